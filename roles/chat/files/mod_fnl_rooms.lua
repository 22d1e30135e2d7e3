-- fnl-deploy (role chat; docs/chat.md): a commune's rooms from its tenant file.
--
-- Loaded on each commune's rooms component (salons.<domain>). When it loads (Prosody's
-- start, or `prosodyctl shell "module:reload('fnl_rooms')"` after the rooms file
-- changed), the rooms the file lists for this component are created or brought in line:
-- name, description, persistent, members only, never listed, members and moderators.
-- A room this module made that the file no longer lists is closed: nobody is a member any
-- more, its history stays (data-safety rules). The file is written by fnl-deploy's
-- Ansible module fnl_chat_rooms, which also tells the plan what changes.

local json = require "util.json";
local mod_muc = module:depends("muc");
local rooms_file = module:get_option_path("fnl_rooms_file", "/etc/prosody/fnl-rooms.json", "config");

local function wanted_rooms()
	local file, err = io.open(rooms_file, "r");
	if not file then
		module:log("warn", "Cannot read the rooms file %s: %s", rooms_file, err);
		return nil;
	end
	local data = json.decode(file:read("*a"));
	file:close();
	if type(data) ~= "table" then
		module:log("error", "The rooms file %s is not valid JSON: rooms left as they are", rooms_file);
		return nil;
	end
	return data[module.host] or {};
end

-- Affiliations as the file wants them, each with the person's name as reserved nickname;
-- anything else (someone a moderator added) gives way, except bans, which stay.
local function set_affiliations(room, wanted, nicknames)
	local current = {};
	for jid, affiliation in room:each_affiliation() do current[jid] = affiliation; end
	for jid, affiliation in pairs(current) do
		if wanted[jid] == nil and affiliation ~= "outcast" then
			room:set_affiliation(true, jid, "none", "Plus dans le fichier de la commune");
		end
	end
	for jid, affiliation in pairs(wanted) do
		local nickname = nicknames[jid];
		if current[jid] ~= affiliation
			or room:get_affiliation_data(jid, "reserved_nickname") ~= nickname then
			room:set_affiliation(true, jid, affiliation, nil, { reserved_nickname = nickname });
		end
	end
end

local function sync()
	local rooms = wanted_rooms();
	if not rooms then return; end
	local listed = {};
	for _, spec in ipairs(rooms) do
		listed[spec.jid] = true;
		local room = mod_muc.get_room_from_jid(spec.jid);
		if not room then
			room = mod_muc.create_room(spec.jid);
			module:log("info", "Created room %s", spec.jid);
		end
		room._data.fnl_managed = true;
		room._data.fnl_closed = nil;
		room:set_name(spec.name);
		room:set_description(spec.description ~= "" and spec.description or nil);
		room:set_persistent(true);
		room:set_public(false);
		room:set_members_only(true);
		room:set_allow_member_invites(false);
		room:set_changesubject(false);
		-- Within a commune, people see who is who.
		room:set_whois("anyone");
		local wanted = {};
		for _, member in ipairs(spec.members) do wanted[member] = "member"; end
		for _, moderator in ipairs(spec.moderators) do wanted[moderator] = "admin"; end
		set_affiliations(room, wanted, spec.nicknames or {});
		room:save(true);
	end
	local closing = {};
	for room in mod_muc.all_rooms() do
		if room._data.fnl_managed and not listed[room.jid] and not room._data.fnl_closed then
			table.insert(closing, room);
		end
	end
	for _, room in ipairs(closing) do
		set_affiliations(room, {}, {});
		room:set_members_only(true);
		room:set_public(false);
		room._data.fnl_closed = true;
		room:save(true);
		module:log("info", "Closed room %s (gone from the tenant file; history kept)", room.jid);
	end
end

-- At Prosody's start, once every host and its storage are up; on a reload, at once.
if prosody.fnl_rooms_started then
	sync();
else
	module:hook_global("server-started", function ()
		prosody.fnl_rooms_started = true;
		sync();
	end);
end
