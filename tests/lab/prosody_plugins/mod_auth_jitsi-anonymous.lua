-- Stand-in for Jitsi's mod_auth_jitsi-anonymous: Prosody's own anonymous authentication,
-- provided under this module's name so that `authentication = "jitsi-anonymous"` finds it.
local chunk = assert(require "util.pluginloader".load_code("auth_anonymous", nil, _ENV));
chunk();
