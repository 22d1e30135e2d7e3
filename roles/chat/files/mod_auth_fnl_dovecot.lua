-- fnl-deploy (role chat; docs/chat.md): chat logins checked by Dovecot, like mail logins.
--
-- mod_auth_dovecot (Debian's prosody-modules) with its auth_append_host mode, plus one
-- retry: it keeps a single connection to Dovecot's socket, which every Dovecot reload
-- (an apply, a certificate renewal) closes, and the first login after it would fail
-- with a closed socket. A wrong password is refused twice by Dovecot, so still refused.

local new_sasl = require "util.sasl".new;
local dovecot = module:depends("auth_dovecot");
local inner = dovecot.provider;

local provider = {};

function provider.test_password(username, password)
	if inner.test_password(username, password) then
		return true;
	end
	return inner.test_password(username, password);
end

provider.get_password = inner.get_password;
provider.set_password = inner.set_password;
provider.user_exists = inner.user_exists;
provider.create_user = inner.create_user;

function provider.get_sasl_handler()
	return new_sasl(module.host, {
		plain_test = function(_, username, password)
			return provider.test_password(username, password), true;
		end;
	});
end

module:provides("auth", provider);
