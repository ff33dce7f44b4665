from jitsiwizard.cli import main

raise SystemExit(main())
