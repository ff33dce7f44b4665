from jitsiwizard.start import main

raise SystemExit(main())
