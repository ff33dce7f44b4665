"""Pure text edits of the config formats on a Jitsi host: minimal diffs, the rest byte-for-byte.
Every function takes and returns text; nothing here does I/O. One module per format:

- lua: Prosody's config (VirtualHost/Component sections, options)
- hocon: jicofo.conf and jvb.conf (the managed block, a reader)
- properties: Java .properties (jicofo's legacy sip-communicator.properties)
- configjs: Jitsi Meet's config.js (its `hosts` object)
- nginx: nginx site files (directive values)
- text: the line helpers the others share
"""
