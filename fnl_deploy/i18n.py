"""User-facing messages in French and English; French when the locale says so."""

from __future__ import annotations

import os
from contextvars import ContextVar

_language: ContextVar[str | None] = ContextVar("fnl_language", default=None)


def detect_language(environ: dict[str, str] | None = None) -> str:
    """``fr`` when FNL_DEPLOY_LANG or the POSIX locale variables say French, else ``en``."""
    env = os.environ if environ is None else environ
    explicit = env.get("FNL_DEPLOY_LANG", "").strip().lower()
    if explicit in ("fr", "en"):
        return explicit
    # POSIX precedence: LC_ALL overrides LC_MESSAGES, which overrides LANG.
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def set_language(language: str | None) -> None:
    _language.set(language)


def language() -> str:
    return _language.get() or detect_language()


# key: (English, French). Placeholders use str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    # YAML and files
    "yaml.nul": ("the file contains a NUL byte", "le fichier contient un octet NUL"),
    "yaml.duplicate_key": (
        "key '{key}' appears twice in the same mapping (first on line {first}); keep only one",
        "la clé « {key} » apparaît deux fois dans le même bloc (d'abord ligne {first}) ; "
        "n'en gardez qu'une",
    ),
    "yaml.tab": (
        "a tab character is used for indentation; YAML only allows spaces",
        "une tabulation sert d'indentation ; YAML n'accepte que des espaces",
    ),
    "yaml.syntax": ("YAML syntax error: {detail}", "erreur de syntaxe YAML : {detail}"),
    "yaml.syntax_context": (
        "{detail} ({context} that starts on line {line})",
        "{detail} ({context}, commencé ligne {line})",
    ),
    "yaml.syntax_indent_hint": (
        "check the indentation of this line and the one above, or quote a value containing ': '",
        "vérifiez l'indentation de cette ligne et de la précédente, ou mettez entre guillemets "
        "une valeur contenant « : »",
    ),
    "file.unreadable": ("cannot read the file: {error}", "impossible de lire le fichier : {error}"),
    "file.not_utf8": (
        "the file is not valid UTF-8; save it as UTF-8",
        "le fichier n'est pas en UTF-8 valide ; enregistrez-le en UTF-8",
    ),
    "file.not_mapping": (
        "the file must contain a mapping (key: value lines) at the top level",
        "le fichier doit contenir un bloc clé: valeur au premier niveau",
    ),
    "deploy.missing_dir": (
        "no deployment directory at {path}",
        "aucun répertoire de déploiement à {path}",
    ),
    "deploy.missing_dir.hint": (
        "pass -i PATH or set FNL_DEPLOY_INVENTORY (e.g. -i inventories/example)",
        "indiquez -i CHEMIN ou FNL_DEPLOY_INVENTORY (par ex. -i inventories/example)",
    ),
    "deploy.missing_hosts": (
        "hosts.yml is missing: it lists the servers",
        "hosts.yml est absent : il décrit les serveurs",
    ),
    "deploy.missing_operator": (
        "no operator settings: add fnl_operator to group_vars/all/*.yml",
        "paramètres de l'opérateur absents : ajoutez fnl_operator dans group_vars/all/*.yml",
    ),
    "deploy.no_servers": (
        "no server in group fnl_servers",
        "aucun serveur dans le groupe fnl_servers",
    ),
    "deploy.tenant_filename": (
        "tenant file name must be lower-case letters, digits and hyphens, "
        "e.g. saint-etienne-de-crossey.yml",
        "le nom du fichier de collectivité ne doit contenir que des minuscules, chiffres et "
        "tirets, par ex. saint-etienne-de-crossey.yml",
    ),
    "deploy.operator_twice": (
        "fnl_operator is also defined in {other}; define it once",
        "fnl_operator est aussi défini dans {other} ; ne le définissez qu'une fois",
    ),
    # Field rules
    "field.unknown": ("unknown field", "champ inconnu"),
    "field.did_you_mean": ("did you mean '{suggestion}'?", "vouliez-vous dire « {suggestion} » ?"),
    "field.missing": ("required field is missing", "champ obligatoire manquant"),
    "field.type": ("expected {expected}, got {got}", "attendu : {expected}, reçu : {got}"),
    "field.invalid": ("{detail}", "{detail}"),
    "text.forbidden_char": (
        "contains a forbidden character {char}",
        "contient un caractère interdit {char}",
    ),
    "text.empty": ("must not be empty", "ne doit pas être vide"),
    "text.too_long": ("is longer than {max} characters", "dépasse {max} caractères"),
    "domain.empty_label": (
        "'{domain}' has an empty label (two dots, or a dot at the start)",
        "« {domain} » contient un label vide (deux points, ou un point au début)",
    ),
    "domain.label_too_long": (
        "label '{label}' is {length} characters long in DNS (at most 63)",
        "le label « {label} » fait {length} caractères dans le DNS (63 au plus)",
    ),
    "domain.too_long": (
        "domain is {length} characters long in DNS (at most 253)",
        "le domaine fait {length} caractères dans le DNS (253 au plus)",
    ),
    "domain.hyphen": (
        "label '{label}' starts or ends with a hyphen",
        "le label « {label} » commence ou finit par un tiret",
    ),
    "domain.hyphen34": (
        "label '{label}' has '--' in 3rd and 4th position, which is reserved for xn-- labels",
        "le label « {label} » a « -- » en 3e et 4e position, réservé aux labels xn--",
    ),
    "domain.idna": (
        "'{domain}' is not a valid internationalised domain name: {detail}",
        "« {domain} » n'est pas un nom de domaine internationalisé valide : {detail}",
    ),
    "domain.bad_char": (
        "label '{label}' contains {char} ({code}), which domain names do not allow: use "
        "letters (accents are fine), digits and hyphens",
        "le label « {label} » contient {char} ({code}), interdit dans un nom de domaine : "
        "utilisez des lettres (accents permis), des chiffres et des tirets",
    ),
    "domain.bad_alabel": (
        "label '{label}' is not a valid A-label (xn--…): {detail}",
        "le label « {label} » n'est pas un A-label (xn--…) valide : {detail}",
    ),
    "domain.mixed_scripts": (
        "label '{label}' mixes scripts ({scripts}); this is how look-alike domains are made",
        "le label « {label} » mélange des écritures ({scripts}) : c'est ainsi que l'on "
        "fabrique des domaines sosies",
    ),
    "domain.single_label": (
        "'{domain}' needs at least two labels (name and extension)",
        "« {domain} » doit avoir au moins deux labels (nom et extension)",
    ),
    "record.bad_name": (
        "'{name}' is not a record name: '@' or labels of a-z, 0-9, '-' and '_'",
        "« {name} » n'est pas un nom d'enregistrement : « @ » ou des étiquettes "
        "a-z, 0-9, « - », « _ »",
    ),
    "record.reserved_name": (
        "'{name}' is written by fnl-deploy itself (mail, agenda, client set-up)",
        "« {name} » est écrit par fnl-deploy lui-même "
        "(messagerie, agenda, configuration des clients)",
    ),
    "record.reserved_spf": (
        "the domain's SPF record is written by fnl-deploy (only the platform sends its mail)",
        "l'enregistrement SPF du domaine est écrit par fnl-deploy "
        "(seule la plateforme envoie son courrier)",
    ),
    "record.reserved_apex": (
        "a {type} record on '@' would take the domain's mail away from the platform",
        "un enregistrement {type} sur « @ » retirerait la messagerie du domaine à la plateforme",
    ),
    "record.bad_value": (
        "'{value}' is not a record value: one line, not empty",
        "« {value} » n'est pas une valeur d'enregistrement : une ligne, non vide",
    ),
    "record.forbidden_char": (
        "'{value}': '{char}' has a meaning in zone files and is refused in a record value",
        "« {value} » : « {char} » a un sens dans les fichiers de zone "
        "et est refusé dans une valeur",
    ),
    "record.unparsable": (
        "'{value}' is not a valid {type} value ({why})",
        "« {value} » n'est pas une valeur {type} valide ({why})",
    ),
    "rule.nameserver_undeclared": (
        "server {server} answers as {name}, which is not in dns.nameservers",
        "le serveur {server} répond en tant que {name}, absent de dns.nameservers",
    ),
    "rule.server_needs_ipv4": (
        "server {server} needs fnl_ipv4: the platform serves zones whose records point at it",
        "le serveur {server} doit avoir fnl_ipv4 : la plateforme sert des zones qui le désignent",
    ),
    "dns.placeholder_ds": (
        "DS: computed when the zone is first signed (after apply)",
        "DS : calculé à la première signature de la zone (après apply)",
    ),
    "domain.numeric_tld": (
        "the extension of '{domain}' cannot be numeric",
        "l'extension de « {domain} » ne peut pas être numérique",
    ),
    "local.invalid": (
        "'{value}' is not a valid address local part: use a-z, 0-9, dot, hyphen, underscore; "
        "start and end with a letter or digit; no two dots in a row",
        "« {value} » n'est pas une partie locale d'adresse valide : utilisez a-z, 0-9, point, "
        "tiret, tiret bas ; commencez et finissez par une lettre ou un chiffre ; pas deux "
        "points de suite",
    ),
    "local.uppercase": (
        "'{value}' has upper-case letters; addresses are written in lower case",
        "« {value} » contient des majuscules ; les adresses s'écrivent en minuscules",
    ),
    "local.with_domain": (
        "write only the part before @ ('{local}'); the domain is the tenant's",
        "n'écrivez que la partie avant @ (« {local} ») ; le domaine est celui de la collectivité",
    ),
    "id.invalid": (
        "'{value}' is not a valid id: lower-case letters, digits, '-' or '_', "
        "starting with a letter, at most 32 characters",
        "« {value} » n'est pas un identifiant valide : minuscules, chiffres, « - » ou « _ », "
        "commençant par une lettre, 32 caractères au plus",
    ),
    "insee.invalid": (
        "'{value}' is not an INSEE code (5 characters: digits, or 2A/2B for Corsica); "
        "quote it so leading zeros stay",
        "« {value} » n'est pas un code INSEE (5 caractères : chiffres, ou 2A/2B pour la Corse) ; "
        "mettez-le entre guillemets pour garder les zéros",
    ),
    "insee.lost_zero": (
        '{value} was read as a number and lost its leading zero; quote it: insee: "0{value}"',
        "{value} a été lu comme un nombre et a perdu son zéro initial ; mettez-le entre "
        'guillemets : insee: "0{value}"',
    ),
    "siren.invalid": (
        "'{value}' is not a valid SIREN (9 digits, Luhn check)",
        "« {value} » n'est pas un SIREN valide (9 chiffres, clé de Luhn)",
    ),
    "siret.invalid": (
        "'{value}' is not a valid SIRET (14 digits, Luhn check)",
        "« {value} » n'est pas un SIRET valide (14 chiffres, clé de Luhn)",
    ),
    "siret.siren_mismatch": (
        "SIRET {siret} does not start with SIREN {siren}",
        "le SIRET {siret} ne commence pas par le SIREN {siren}",
    ),
    "size.invalid": (
        "'{value}' is not a size: write a number and a unit, e.g. 5 GiB, 500 MiB, 2 Go",
        "« {value} » n'est pas une taille : écrivez un nombre et une unité, par ex. 5 GiB, "
        "500 MiB, 2 Go",
    ),
    "size.zero": ("size must be greater than zero", "la taille doit être supérieure à zéro"),
    "schema.version": (
        "schema {value} is not supported; this fnl-deploy reads schema {supported}",
        "le schéma {value} n'est pas pris en charge ; cette version lit le schéma {supported}",
    ),
    "schema.not_number": (
        "write the format version as a number: schema: {supported}",
        "écrivez la version du format comme un nombre : schema: {supported}",
    ),
    "field.enum": (
        "'{value}' is not allowed here; use one of: {expected}",
        "« {value} » n'est pas permis ici ; utilisez l'une de ces valeurs : {expected}",
    ),
    "field.greater_than_equal": ("must be at least {limit}", "doit valoir au moins {limit}"),
    "field.greater_than": ("must be greater than {limit}", "doit être supérieur à {limit}"),
    "field.less_than_equal": ("must be at most {limit}", "doit valoir au plus {limit}"),
    "field.less_than": ("must be less than {limit}", "doit être inférieur à {limit}"),
    "field.too_short": (
        "needs at least {min} item(s)",
        "il faut au moins {min} élément(s)",
    ),
    # Cross-file rules
    "rule.domain_taken": (
        "domain {domain} is already used by tenant {other} ({where})",
        "le domaine {domain} est déjà utilisé par la collectivité {other} ({where})",
    ),
    "rule.address_taken": (
        "address {address} is already used by {kind} ({where})",
        "l'adresse {address} est déjà utilisée par {kind} ({where})",
    ),
    "rule.address_taken_other": (
        "address {address} is already used by tenant {other}, by {kind} ({where})",
        "l'adresse {address} est déjà utilisée par la collectivité {other}, par {kind} ({where})",
    ),
    "rule.alias_shadows": (
        "alias {address} is also the address of {kind} ({where}); an alias cannot shadow it",
        "l'alias {address} est aussi l'adresse d'{kind} ({where}) ; un alias ne peut pas "
        "masquer une adresse existante",
    ),
    "kind.mailbox": ("a mailbox", "une boîte aux lettres"),
    "kind.shared": ("a shared mailbox", "une boîte partagée"),
    "kind.list": ("a list", "une liste"),
    "kind.alias": ("an alias", "un alias"),
    "kind.calendar": ("a calendar or resource", "un agenda ou une ressource"),
    "rule.unknown_person": (
        "no person with id '{value}' in this tenant (known: {known})",
        "aucune personne d'identifiant « {value} » dans cette collectivité (connues : {known})",
    ),
    "rule.duplicate_id": (
        "person id '{value}' is used twice in this tenant",
        "l'identifiant « {value} » est utilisé deux fois dans cette collectivité",
    ),
    "rule.activesync_unavailable": (
        "ActiveSync is not available: Debian's SOGo package is built without it; phones use "
        "CalDAV, CardDAV and IMAP (docs/roles.md#groupware)",
        "ActiveSync n'est pas disponible : le paquet SOGo de Debian est construit sans ; les "
        "téléphones utilisent CalDAV, CardDAV et IMAP (docs/roles.md#groupware)",
    ),
    "rule.duplicate_room": (
        "chat room id '{value}' is used twice in this tenant (give one of them an id)",
        "l'identifiant de salon « {value} » est utilisé deux fois dans cette collectivité "
        "(donnez un id à l'un d'eux)",
    ),
    "rule.rooms_without_chat": (
        "rooms are declared but chat is off: add services: {{chat: true}}",
        "des salons sont déclarés mais la messagerie instantanée est désactivée : ajoutez "
        "services: {{chat: true}}",
    ),
    "rule.chat_needs_hosted": (
        "chat needs the platform to serve the commune's zone (dns: {{mode: hosted}}): chat "
        "apps check the certificate against the domain itself, which the platform can only "
        "obtain for a zone it serves",
        "la messagerie instantanée demande que la plateforme serve la zone de la commune "
        "(dns: {{mode: hosted}}) : les applications vérifient le certificat au nom du domaine "
        "lui-même, que la plateforme n'obtient que pour une zone qu'elle sert",
    ),
    "rule.chat_apex_elsewhere": (
        "chat: {domain} points at the commune's own website, so the platform cannot certify "
        "it; have the website redirect http://{domain}/.well-known/acme-challenge/ to "
        "http://mail.{domain}/.well-known/acme-challenge/, then set dns: {{acme_redirect: true}}",
        "messagerie instantanée : {domain} désigne le site web de la commune, la plateforme ne "
        "peut donc pas le certifier ; faites rediriger par le site "
        "http://{domain}/.well-known/acme-challenge/ vers "
        "http://mail.{domain}/.well-known/acme-challenge/, puis indiquez "
        "dns: {{acme_redirect: true}}",
    ),
    "folder.bad_name": (
        "'{name}' cannot name a folder: no '/' or '\\', no leading '.', and '{personal}' "
        "holds the personal folders",
        "« {name} » ne peut pas nommer un dossier : ni « / » ni « \\ », pas de « . » au "
        "début, et « {personal} » contient les dossiers personnels",
    ),
    "rule.duplicate_folder": (
        "folder '{value}' is declared twice in this tenant",
        "le dossier « {value} » est déclaré deux fois dans cette collectivité",
    ),
    "rule.folders_without_files": (
        "folders are declared but shared files are off: add services: {{files: true}}",
        "des dossiers sont déclarés mais les fichiers partagés sont désactivés : ajoutez "
        "services: {{files: true}}",
    ),
    "rule.duplicate_calendar": (
        "calendar id '{value}' is used twice in this tenant (give one of them an id)",
        "l'identifiant d'agenda « {value} » est utilisé deux fois dans cette collectivité "
        "(donnez un id à l'un d'eux)",
    ),
    "rule.unknown_target": (
        "no address '{value}' in this tenant (addresses: {known}); write a full address "
        "(name@domain) for one outside it",
        "aucune adresse « {value} » dans cette collectivité (adresses : {known}) ; écrivez une "
        "adresse complète (nom@domaine) pour une adresse extérieure",
    ),
    "rule.unknown_server": (
        "no server '{value}' in hosts.yml (servers: {known})",
        "aucun serveur « {value} » dans hosts.yml (serveurs : {known})",
    ),
    "rule.mailbox_quota_over_cap": (
        "mailbox quota {quota} is larger than the tenant cap {cap}",
        "le quota de la boîte {quota} dépasse le plafond de la collectivité {cap}",
    ),
    "rule.default_quota_over_cap": (
        "the default mailbox quota {quota} (operator settings) is larger than this tenant cap "
        "{cap}; set quotas.mailbox",
        "le quota de boîte par défaut {quota} (paramètres de l'opérateur) dépasse le plafond "
        "{cap} de cette collectivité ; indiquez quotas.mailbox",
    ),
    "rule.alias_domain_is_primary": (
        "alias domain {domain} is the tenant's primary domain",
        "le domaine alias {domain} est le domaine principal de la collectivité",
    ),
    "rule.list_empty": (
        "a list needs at least one member",
        "une liste doit avoir au moins un membre",
    ),
    "rule.technical_domain_taken": (
        "domain {domain} is, or is under, the operator's technical domain {technical}, "
        "which names the platform's own servers",
        "le domaine {domain} est, ou est sous, le domaine technique de l'opérateur "
        "{technical}, qui nomme les serveurs de la plateforme",
    ),
    "rule.technical_domain_inside": (
        "domain {domain} contains the operator's technical domain {technical}",
        "le domaine {domain} contient le domaine technique de l'opérateur {technical}",
    ),
    "rule.domain_twice": (
        "domain {domain} is listed twice in this tenant ({where})",
        "le domaine {domain} figure deux fois dans cette collectivité ({where})",
    ),
    "rule.default_server_unknown": (
        "default server '{value}' is not in hosts.yml (servers: {known})",
        "le serveur par défaut « {value} » n'est pas dans hosts.yml (serveurs : {known})",
    ),
    "rule.reserved_local": (
        "'{value}' is reserved for the platform (postmaster, abuse… are created for you)",
        "« {value} » est réservé à la plateforme (postmaster, abuse… sont créés pour vous)",
    ),
    "warn.rcpnt_extension": (
        "RCPNT: domain {domain} is not under .fr or a French regional extension",
        "RCPNT : le domaine {domain} n'est pas en .fr ni dans une extension régionale française",
    ),
    # Commands
    "validate.ok": (
        "Valid: {tenants} tenant(s), {mailboxes} mailbox(es), {servers} server(s).",
        "Valide : {tenants} collectivité(s), {mailboxes} boîte(s), {servers} serveur(s).",
    ),
    "validate.failed": (
        "{count} error(s); nothing was changed.",
        "{count} erreur(s) ; rien n'a été modifié.",
    ),
    "tenant.unknown": ("no tenant '{name}'", "aucune collectivité « {name} »"),
    "tenant.unknown.hint": ("known tenants: {known}", "collectivités connues : {known}"),
    "tenant.exists": (
        "{path} already exists; not overwritten",
        "{path} existe déjà ; il n'est pas écrasé",
    ),
    "tenant.created": ("Created {path}", "Créé : {path}"),
    "tenant.insee_unknown": (
        "no commune with INSEE code {code} in the official list",
        "aucune commune de code INSEE {code} dans la liste officielle",
    ),
    "tenant.need_domain": (
        "give --domain (or --insee to suggest one)",
        "indiquez --domain (ou --insee pour en suggérer un)",
    ),
    "tenant.need_name": (
        "give a NAME or --insee CODE",
        "indiquez un NOM ou --insee CODE",
    ),
    "dns.placeholder_dkim": (
        "DKIM key not generated yet: it is created on the server at the first apply",
        "clé DKIM pas encore générée : elle est créée sur le serveur au premier apply",
    ),
    "dns.external_hint": (
        "External DNS: enter these records at the commune's registrar or DNS host.",
        "DNS externe : saisissez ces enregistrements chez le bureau d'enregistrement "
        "ou l'hébergeur DNS de la commune.",
    ),
    "dns.hosted_hint": (
        "Hosted DNS: the platform serves this zone; at the registrar set only the NS "
        "(and DS once signed).",
        "DNS hébergé : la plateforme sert cette zone ; chez le bureau d'enregistrement, "
        "renseignez seulement les NS (et le DS une fois signée).",
    ),
    # dns check
    "dnscheck.domain": (
        "{tenant}: {domain} (answers from {server})",
        "{tenant} : {domain} (réponses de {server})",
    ),
    "dnscheck.status.missing": ("missing", "absent"),
    "dnscheck.status.wrong": ("wrong", "incorrect"),
    "dnscheck.status.pending": ("pending", "en attente"),
    "dnscheck.status.unanswered": ("unanswered", "sans réponse"),
    "dnscheck.status.ok": ("ok", "correct"),
    "dnscheck.pending": (
        "(first apply): the server generates the DKIM key, then `fnl-deploy dns show` "
        "gives its record",
        "(premier apply) : le serveur génère la clé DKIM, puis `fnl-deploy dns show` "
        "donne son enregistrement",
    ),
    "dnscheck.found": ("found", "trouvé"),
    "dnscheck.add": ("add", "ajouter"),
    "dnscheck.remove": ("remove", "retirer"),
    "dnscheck.fix": (
        "name {name}  type {type}  value {value}",
        "nom {name}  type {type}  valeur {value}",
    ),
    "dnscheck.issue.differs": (
        "differs from the expected value",
        "diffère de la valeur attendue",
    ),
    "dnscheck.issue.twice": (
        "{value} records of this kind: receivers ignore them all; keep only one",
        "{value} enregistrements de ce type : ils sont tous ignorés ; n'en gardez qu'un",
    ),
    "dnscheck.issue.spf_twice": (
        "{value} SPF records: receivers treat this as an error (RFC 7208 §4.5); keep only one",
        "{value} enregistrements SPF : les destinataires y voient une erreur (RFC 7208 §4.5) ; "
        "n'en gardez qu'un",
    ),
    "dnscheck.issue.spf_softfail": (
        "SPF ends with ~all (soft fail): -all is expected",
        "le SPF finit par ~all (échec léger) : -all est attendu",
    ),
    "dnscheck.issue.spf_no_all": (
        "SPF does not end with -all or ~all: anyone may send mail as this domain",
        "le SPF ne finit ni par -all ni par ~all : n'importe qui peut envoyer au nom du domaine",
    ),
    "dnscheck.issue.spf_no_mx": (
        "SPF does not allow the platform's servers (mx)",
        "le SPF n'autorise pas les serveurs de la plateforme (mx)",
    ),
    "dnscheck.issue.dmarc_none": (
        "DMARC p=none only monitors: use p=quarantine or p=reject (RCPNT)",
        "DMARC p=none ne fait qu'observer : utilisez p=quarantine ou p=reject (RCPNT)",
    ),
    "dnscheck.issue.dmarc_policy": (
        "DMARC policy '{value}' is not valid: use p=quarantine or p=reject",
        "la politique DMARC « {value} » n'est pas valide : utilisez p=quarantine ou p=reject",
    ),
    "dnscheck.issue.dmarc_pct": (
        "DMARC pct={value} applies the policy to part of the mail only: RCPNT wants pct=100",
        "DMARC pct={value} n'applique la politique qu'à une partie du courrier : le RCPNT "
        "demande pct=100",
    ),
    "dnscheck.issue.dmarc_twice": (
        "{value} DMARC records: receivers ignore them all (RFC 7489); keep only one",
        "{value} enregistrements DMARC : les destinataires les ignorent tous (RFC 7489) ; "
        "n'en gardez qu'un",
    ),
    "dnscheck.issue.extra": (
        "also found {value}: remove it",
        "trouvé aussi {value} : retirez-le",
    ),
    "dnscheck.issue.not_cname": (
        "an address ({value}) stands where a CNAME belongs",
        "une adresse ({value}) figure là où un CNAME est attendu",
    ),
    "dnscheck.error.timeout": (
        "no answer in time (timeout)",
        "pas de réponse à temps (délai dépassé)",
    ),
    "dnscheck.error.servfail": (
        "the server refused or failed to answer (REFUSED or SERVFAIL)",
        "le serveur a refusé ou échoué à répondre (REFUSED ou SERVFAIL)",
    ),
    "dnscheck.error.unreachable": (
        "not asked: the server did not answer the previous queries",
        "non demandé : le serveur n'a pas répondu aux requêtes précédentes",
    ),
    "dnscheck.error.other": ("query failed: {detail}", "la requête a échoué : {detail}"),
    "dnscheck.rcpnt": ("RCPNT: {criteria}", "RCPNT : {criteria}"),
    "dnscheck.rcpnt.extension": ("{detail} extension", "extension {detail}"),
    "dnscheck.rcpnt.mx": ("MX present", "MX présent"),
    "dnscheck.rcpnt.spf": ("one SPF", "un seul SPF"),
    "dnscheck.rcpnt.dmarc": ("DMARC quarantine/reject 100%", "DMARC quarantine/reject 100 %"),
    "dnscheck.rcpnt.eu_hosting": ("MX in the EU ({detail})", "MX dans l'UE ({detail})"),
    "dnscheck.tenant_summary": (
        "{tenant}: {ok} ok, {fix} to fix, {pending} pending, {unanswered} unanswered.",
        "{tenant} : {ok} correct(s), {fix} à corriger, {pending} en attente, "
        "{unanswered} sans réponse.",
    ),
    "dnscheck.summary": (
        "DNS check: {tenants_ok} of {tenants} tenant(s) without problems, {rcpnt} meeting "
        "RCPNT; {to_fix} record(s) to fix, {pending} pending, {unanswered} unanswered.",
        "Vérification DNS : {tenants_ok} collectivité(s) sur {tenants} sans problème, "
        "{rcpnt} conforme(s) au RCPNT ; {to_fix} enregistrement(s) à corriger, {pending} en "
        "attente, {unanswered} sans réponse.",
    ),
    "dnscheck.hosted_hint": (
        "Hosted zone: `fnl-deploy apply` publishes these records on the platform's name "
        "servers; at the registrar, set only the NS records.",
        "Zone hébergée : `fnl-deploy apply` publie ces enregistrements sur les serveurs de noms "
        "de la plateforme ; chez le bureau d'enregistrement, renseignez seulement les NS.",
    ),
    "dnscheck.cache_hint": (
        "Answers may come from a resolver cache: --authoritative asks the domain's own "
        "name servers.",
        "Les réponses peuvent venir du cache d'un résolveur : --authoritative interroge "
        "directement les serveurs de noms du domaine.",
    ),
    "dnscheck.bad_resolver": (
        "--resolver {value}: expected HOST or HOST:PORT",
        "--resolver {value} : attendu HÔTE ou HÔTE:PORT",
    ),
    "dnscheck.bad_resolver.hint": (
        "e.g. --resolver 127.0.0.1:5353 or --resolver [2001:db8::53]:53",
        "par ex. --resolver 127.0.0.1:5353 ou --resolver [2001:db8::53]:53",
    ),
    "dnscheck.no_resolver": (
        "no system resolver configured (/etc/resolv.conf)",
        "aucun résolveur système configuré (/etc/resolv.conf)",
    ),
    "plan.never_provisioned": (
        "{server}: never provisioned by fnl-deploy; this plan is a first install.",
        "{server} : jamais provisionné par fnl-deploy ; ce plan est une première installation.",
    ),
    "plan.warning": (
        "{server}: warning: {message}",
        "{server} : avertissement : {message}",
    ),
    "plan.tenant": ("Tenant", "Collectivité"),
    "plan.server": ("Server", "Serveur"),
    "plan.summary": (
        "Plan: {add} to add, {change} to change, {disable} to disable.",
        "Plan : {add} à ajouter, {change} à modifier, {disable} à désactiver.",
    ),
    "apply.summary": (
        "Applied: {add} added, {change} changed, {disable} disabled.",
        "Appliqué : {add} ajouté(s), {change} modifié(s), {disable} désactivé(s).",
    ),
    "apply.host": (
        "  {host}: ok={ok} changed={changed} failed={failed} unreachable={unreachable}",
        "  {host} : ok={ok} modifiés={changed} échecs={failed} injoignable={unreachable}",
    ),
    "run.log": ("Run log: {path}", "Journal de l'exécution : {path}"),
    "password.unknown": (
        "{address} is not the mailbox of a person in the tenant files",
        "{address} n'est la boîte d'aucune personne dans les fichiers des collectivités",
    ),
    "archive.none": (
        "No archive: no mailbox has been removed from the tenant files.",
        "Aucune archive : aucune boîte n'a été retirée des fichiers de commune.",
    ),
    "archive.present": ("present", "présente"),
    "archive.verified": ("checksum ok", "somme de contrôle ok"),
    "archive.corrupt": ("CHECKSUM MISMATCH", "SOMME DE CONTRÔLE FAUSSE"),
    "archive.missing": ("MISSING", "ABSENTE"),
    "password.show": (
        "Password of {address}: {password}\n(the initial one, or the last reset; it no longer "
        "works once its owner has changed it)",
        "Mot de passe de {address} : {password}\n(le mot de passe initial, ou le dernier "
        "réinitialisé ; il ne fonctionne plus une fois changé par son titulaire)",
    ),
    "password.not_yet": (
        "{address} has no password yet: it is generated by the first apply that creates it.",
        "{address} n'a pas encore de mot de passe : il est créé par le premier apply.",
    ),
    "password.reset": (
        "New password for {address}: {password}\nIt reaches the server at the next "
        "`fnl-deploy apply --tenant {tenant}`; hand it to its owner, who should change it.",
        "Nouveau mot de passe pour {address} : {password}\nIl parvient au serveur au "
        "prochain `fnl-deploy apply --tenant {tenant}` ; remettez-le à son titulaire, qui "
        "devrait le changer.",
    ),
    "error.prefix": ("Error", "Erreur"),
    "hint.prefix": ("Hint", "Conseil"),
    "warning.prefix": ("Warning", "Avertissement"),
    # welcome sheets
    "welcome.unknown_person": (
        "no person '{person}' in tenant {tenant}",
        "aucune personne « {person} » dans la collectivité {tenant}",
    ),
    "welcome.unknown_person.hint": ("known people: {known}", "personnes connues : {known}"),
    "welcome.disabled": (
        "{person} cannot log in (disabled: true in the tenant file): no welcome sheet",
        "{person} ne peut pas se connecter (disabled: true dans le fichier) : pas de fiche "
        "d'accueil",
    ),
    "welcome.no_people": (
        "{tenant} has no person with a login: no welcome sheet to make",
        "{tenant} n'a personne avec un identifiant : aucune fiche d'accueil à faire",
    ),
    "welcome.not_yet": (
        "no password yet for {addresses}: passwords are generated by the first apply that "
        "creates the accounts",
        "pas encore de mot de passe pour {addresses} : les mots de passe sont créés par le "
        "premier apply qui crée les comptes",
    ),
    "welcome.not_yet.hint": (
        "run `fnl-deploy apply --tenant {tenant}` first, then make the sheets",
        "lancez d'abord `fnl-deploy apply --tenant {tenant}`, puis faites les fiches",
    ),
    "welcome.output_inside": (
        "{path} is inside the deployment directory {root}: the passwords would lie in clear "
        "next to what git keeps",
        "{path} est dans le répertoire de déploiement {root} : les mots de passe y seraient "
        "en clair, à côté de ce que garde git",
    ),
    "welcome.output_inside.hint": (
        "write it outside, e.g. --output /tmp/{name}, and delete it once printed",
        "écrivez-le ailleurs, par exemple --output /tmp/{name}, et supprimez-le une fois imprimé",
    ),
    "welcome.output_no_dir": (
        "no directory {path} to write the sheets in",
        "aucun répertoire {path} où écrire les fiches",
    ),
    "welcome.written": (
        "Wrote {count} welcome sheet(s) to {path} (readable by you only).\n"
        "Print it, hand each sheet over in person, then delete the file.",
        "{count} fiche(s) d'accueil écrite(s) dans {path} (lisible par vous seul).\n"
        "Imprimez-le, remettez chaque fiche en main propre, puis supprimez le fichier.",
    ),
    # migration
    "migrate.source.scheme": (
        "--from {url}: the old server must be given as imaps://HOST[:PORT] or imap://HOST[:PORT]",
        "--from {url} : l'ancien serveur s'écrit imaps://HÔTE[:PORT] ou imap://HÔTE[:PORT]",
    ),
    "migrate.source.form": (
        "--from {url}: only a host and a port are expected (no login, path or query)",
        "--from {url} : seuls un hôte et un port sont attendus (ni identifiant, ni chemin)",
    ),
    "migrate.source.port": (
        "--from {url}: the port must be a number from 1 to 65535",
        "--from {url} : le port doit être un nombre de 1 à 65535",
    ),
    "migrate.source.host": ("--from {url}: {error}", "--from {url} : {error}"),
    "migrate.source.hint": (
        "e.g. --from imaps://imap.old-provider.fr (TLS, port 993) or "
        "--from imap://imap.old-provider.fr:143 (STARTTLS, required)",
        "par ex. --from imaps://imap.ancien-fournisseur.fr (TLS, port 993) ou "
        "--from imap://imap.ancien-fournisseur.fr:143 (STARTTLS, obligatoire)",
    ),
    "migrate.ca.unreadable": (
        "--ca-file {path}: cannot read it: {error}",
        "--ca-file {path} : lecture impossible : {error}",
    ),
    "migrate.ca.not_pem": (
        "--ca-file {path}: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        "--ca-file {path} : ce n'est pas un certificat PEM (-----BEGIN CERTIFICATE-----)",
    ),
    "migrate.map.empty": (
        "the map is empty: its first line must be old_login,old_password,new_address",
        "le fichier est vide : sa première ligne doit être old_login,old_password,new_address",
    ),
    "migrate.map.no_rows": (
        "the map has a header but no mailbox to migrate",
        "le fichier a un en-tête mais aucune boîte à migrer",
    ),
    "migrate.map.unknown_column": (
        "unknown column; the columns are old_login, old_password, new_address",
        "colonne inconnue ; les colonnes sont old_login, old_password, new_address",
    ),
    "migrate.map.duplicate_column": (
        "this column appears twice in the header",
        "cette colonne apparaît deux fois dans l'en-tête",
    ),
    "migrate.map.header": (
        "the header line lacks {missing}; it must be old_login,old_password,new_address",
        "il manque {missing} à la ligne d'en-tête ; elle doit être "
        "old_login,old_password,new_address",
    ),
    "migrate.map.cells": (
        "{found} cell(s) where the header has {expected}",
        "{found} cellule(s) alors que l'en-tête en a {expected}",
    ),
    "migrate.map.csv": ("not valid CSV: {error}", "CSV invalide : {error}"),
    "migrate.map.required": ("this cell is empty", "cette cellule est vide"),
    "migrate.map.login_chars": (
        "a login cannot contain spaces or control characters",
        "un identifiant ne peut contenir ni espace ni caractère de contrôle",
    ),
    "migrate.map.password_chars": (
        "the password contains a line break or a control character",
        "le mot de passe contient un saut de ligne ou un caractère de contrôle",
    ),
    "migrate.map.other_domain": (
        "{domain} is not a domain of tenant {tenant} ({domains})",
        "{domain} n'est pas un domaine de la collectivité {tenant} ({domains})",
    ),
    "migrate.map.no_mailbox": (
        "'{local}' is not a mailbox of tenant {tenant} (mailboxes: {known})",
        "« {local} » n'est pas une boîte de la collectivité {tenant} (boîtes : {known})",
    ),
    "migrate.map.twice": (
        "already on line {line}: one old account per mailbox and one mailbox per old account",
        "déjà ligne {line} : un ancien compte par boîte et une boîte par ancien compte",
    ),
    "migrate.busy.hint": (
        "wait for it to end (a migration cut off from its command goes on to the end on the "
        "server), then run the command again: it continues where the other stopped",
        "attendez qu'elle finisse (coupée de sa commande, une migration va à son terme sur le "
        "serveur), puis relancez la commande : elle reprend où l'autre s'est arrêtée",
    ),
    "migrate.interrupted": (
        "interrupted: the copy was stopped on the server; what it copied stays",
        "interrompu : la copie a été arrêtée sur le serveur ; ce qui est copié reste",
    ),
    "migrate.again": (
        "run the same command again: it continues where it stopped, without duplicates",
        "relancez la même commande : elle reprend où elle s'est arrêtée, sans doublon",
    ),
    "migrate.state.ok": ("ok", "complet"),
    "migrate.state.incomplete": ("INCOMPLETE", "INCOMPLET"),
    "migrate.state.failed": ("FAILED", "ÉCHEC"),
    "migrate.column.old": ("old login", "ancien identifiant"),
    "migrate.column.new": ("new address", "nouvelle adresse"),
    "migrate.column.source": ("old server", "ancien serveur"),
    "migrate.column.before": ("before", "avant"),
    "migrate.column.after": ("after", "après"),
    "migrate.column.duplicates": ("duplicates removed", "doublons retirés"),
    "migrate.column.state": ("state", "état"),
    "migrate.summary": (
        "Migration: {ok} ok, {incomplete} incomplete, {failed} failed; {copied} message(s) "
        "copied, {duplicates} duplicate(s) removed in {seconds} s.",
        "Migration : {ok} ok, {incomplete} incomplète(s), {failed} en échec ; {copied} "
        "message(s) copié(s), {duplicates} doublon(s) retiré(s) en {seconds} s.",
    ),
    "migrate.progress.counting": (
        "counting messages on both sides",
        "comptage des messages des deux côtés",
    ),
    "migrate.progress.copying": (
        "copying: {source} message(s) on the old server, {before} already here",
        "copie : {source} message(s) sur l'ancien serveur, {before} déjà ici",
    ),
    "migrate.progress.checking": (
        "looking for duplicates in the folders copied to",
        "recherche de doublons dans les dossiers copiés",
    ),
    "migrate.progress.copied": (
        "{copied} message(s) copied so far",
        "{copied} message(s) copié(s) jusqu'ici",
    ),
    "migrate.progress.done": (
        "{state} ({source} on the old server, {after} here, duplicates removed: "
        "{duplicates}, {seconds} s)",
        "{state} ({source} sur l'ancien serveur, {after} ici, doublons retirés : "
        "{duplicates}, {seconds} s)",
    ),
    # offboarding
    "offboard.visa_needed": (
        "--purge needs --visa REF: the reference of the Archives départementales' visa for "
        "destroying this mail",
        "--purge demande --visa REF : la référence du visa des Archives départementales "
        "autorisant la destruction de ce courrier",
    ),
    "offboard.visa_needed.hint": (
        "mail of a commune is a public archive (Code du patrimoine, L211-1)",
        "le courrier d'une commune est une archive publique (Code du patrimoine, L211-1)",
    ),
    "offboard.not_offboarded": (
        "{tenant} is not offboarded: purge refused",
        "{tenant} n'a pas été sortie de la plateforme : purge refusée",
    ),
    "offboard.not_offboarded.hint": (
        "first run: fnl-deploy offboard {tenant} (it archives everything, then disables it)",
        "lancez d'abord : fnl-deploy offboard {tenant} (archive tout, puis désactive)",
    ),
    "offboard.no_archive": (
        "no archive of {tenant} was ever made from this deployment directory: purge refused",
        "aucune archive de {tenant} n'a été faite depuis ce répertoire de déploiement : "
        "purge refusée",
    ),
    "offboard.done": (
        "{tenant}: {mailboxes} mailboxes, {items} calendar and contact items archived in "
        "{archive} on {server} (sha256 {sha256}, verified); the tenant is disabled, its data "
        "kept. {file} now says offboarded: commit it.",
        "{tenant} : {mailboxes} boîtes, {items} événements et contacts archivés dans "
        "{archive} sur {server} (sha256 {sha256}, vérifié) ; la collectivité est désactivée, "
        "ses données conservées. {file} indique désormais offboarded : validez-le dans git.",
    ),
    "offboard.purged": (
        "{tenant}: live data destroyed under visa {visa}; the archive {archive} (sha256 "
        "{sha256}) is kept",
        "{tenant} : données détruites sous le visa {visa} ; l'archive {archive} (sha256 "
        "{sha256}) est conservée",
    ),
    # backups and restore
    "backup.unknown_server": (
        "no server {server} in the inventory (servers: {servers})",
        "aucun serveur {server} dans l'inventaire (serveurs : {servers})",
    ),
    "backup.unknown_server_hint": (
        "name a server of hosts.yml (fnl_servers)",
        "nommez un serveur de hosts.yml (fnl_servers)",
    ),
    "backup.done": (
        "{server}: archive {archive} — {files} files, {original} read, {stored} newly stored",
        "{server} : archive {archive} — {files} fichiers, {original} lus, {stored} nouvellement "
        "stockés",
    ),
    "backup.checked": (
        "{server}: repository {repository} and its {archives} archive(s) check out",
        "{server} : le dépôt {repository} et ses {archives} archive(s) sont intègres",
    ),
    "backup.none": (
        "{server}: no archive yet in {repository}",
        "{server} : aucune archive encore dans {repository}",
    ),
    "restore.not_empty": (
        "{server} already holds {messages} message(s): a restore goes onto a new server only",
        "{server} contient déjà {messages} message(s) : une restauration ne se fait que sur "
        "un serveur neuf",
    ),
    "restore.not_empty_hint": (
        "restoring over live mail would mix old messages into it; replace the server first "
        "(docs/operations.md, « Restoring a server »)",
        "restaurer par-dessus du courrier vivant y mêlerait d'anciens messages ; remplacez "
        "d'abord le serveur (docs/operations.md, « Restoring a server »)",
    ),
    "status.reach": ("unreachable: {why}", "injoignable : {why}"),
    "status.service": ("{unit} is {state}", "{unit} est {state}"),
    "status.queue": (
        "{messages} messages in the mail queue, the oldest {minutes} min old",
        "{messages} messages dans la file d'attente, le plus ancien depuis {minutes} min",
    ),
    "status.disk": (
        "{path}: {percent}% used, {free} free",
        "{path} : {percent} % occupé, {free} libres",
    ),
    "status.certificate": (
        "certificate {name} expires in {days} days ({date})",
        "le certificat {name} expire dans {days} jours ({date})",
    ),
    "status.backup_never": ("no successful backup yet", "aucune sauvegarde réussie à ce jour"),
    "status.backup": (
        "last successful backup {hours} h ago",
        "dernière sauvegarde réussie il y a {hours} h",
    ),
    "status.updates": (
        "{count} security update(s) pending ({packages}); unattended-upgrades installs them daily",
        "{count} mise(s) à jour de sécurité en attente ({packages}) ; unattended-upgrades les "
        "installe chaque jour",
    ),
    "status.mailbox": (
        "{address} {percent}% full ({used} of {quota})",
        "{address} plein à {percent} % ({used} sur {quota})",
    ),
    "status.storage": (
        "{used} used of the commune's {quota}",
        "{used} occupés sur les {quota} de la commune",
    ),
    "status.dkim": ("DKIM key {days} days old", "clé DKIM vieille de {days} jours"),
    "status.dns": ("DNS: {problems}", "DNS : {problems}"),
    "status.servers": ("Servers", "Serveurs"),
    "status.tenants": ("Communes", "Les communes"),
    "status.action": ("Needs action", "À traiter"),
    "status.info": ("Worth knowing", "Pour information"),
    "status.healthy": ("Everything is healthy.", "Tout va bien."),
    "status.unhealthy": (
        "{count} thing(s) need action (exit code 1).",
        "{count} point(s) à traiter (code de sortie 1).",
    ),
    "status.changes": (
        "Since {since}: {new} new, {changed} changed, {resolved} resolved.",
        "Depuis le {since} : {new} nouveau(x), {changed} modifié(s), {resolved} résolu(s).",
    ),
    "status.first": (
        "First status of this deployment: the next one will say what changed.",
        "Premier état de ce déploiement : le prochain dira ce qui a changé.",
    ),
    "status.unknown_tenant": ("no tenant {tenant}", "aucune collectivité {tenant}"),
    "report.bad_since": (
        "--since {value}: not a moment fnl-deploy knows",
        "--since {value} : moment inconnu de fnl-deploy",
    ),
    "report.bad_since.hint": (
        "use last, yesterday, 12h, 7d, 2w, 2026-11-28 or 2026-11-28T07:00",
        "utilisez last, yesterday, 12h, 7d, 2w, 2026-11-28 ou 2026-11-28T07:00",
    ),
    "report.nothing_saved": ("no status kept yet", "aucun état conservé pour l'instant"),
    "report.nothing_saved.hint": (
        "run fnl-deploy status (or report without --saved) first",
        "lancez d'abord fnl-deploy status (ou report sans --saved)",
    ),
    "report.bad_smtp": (
        "--smtp {value}: expected HOST[:PORT]",
        "--smtp {value} : HÔTE[:PORT] attendu",
    ),
    "report.no_password": (
        "--smtp-user needs the password in the environment variable {variable}",
        "--smtp-user demande le mot de passe dans la variable d'environnement {variable}",
    ),
    "report.mail_failed": (
        "the report could not be mailed through {smtp}: {error}",
        "le rapport n'a pas pu être envoyé par {smtp} : {error}",
    ),
    "report.subject": (
        "[fnl-deploy] {new} new, {changed} changed, {resolved} resolved; {action} need action",
        "[fnl-deploy] {new} nouveau(x), {changed} modifié(s), {resolved} résolu(s) ; "
        "{action} à traiter",
    ),
    "report.heading": (
        "Platform report of {checked}: {servers} server(s), {tenants} commune(s).",
        "Rapport de la plateforme du {checked} : {servers} serveur(s), {tenants} commune(s).",
    ),
    "report.compared": (
        "Changes since the status of {baseline} (--since {since}).",
        "Changements depuis l'état du {baseline} (--since {since}).",
    ),
    "report.compared_oldest": (
        "No status as old as --since {since}: changes since the oldest kept, {baseline}.",
        "Aucun état aussi ancien que --since {since} : changements depuis le plus ancien "
        "conservé, du {baseline}.",
    ),
    "report.no_baseline": (
        "First status of this deployment: everything found is new.",
        "Premier état de ce déploiement : tout ce qui est relevé est nouveau.",
    ),
    "report.new": ("New ({count}):", "Nouveau ({count}) :"),
    "report.changed": ("Changed ({count}):", "Modifié ({count}) :"),
    "report.resolved": ("Resolved ({count}):", "Résolu ({count}) :"),
    "report.nothing_changed": ("Nothing changed.", "Rien n'a changé."),
    "report.still": (
        "Still needing action, unchanged: {count} ({by}).",
        "Toujours à traiter, sans changement : {count} ({by}).",
    ),
    "report.html_written": ("Dashboard: {path}", "Tableau de bord : {path}"),
    "report.mailed": ("Mailed to {address}.", "Envoyé à {address}."),
    "dashboard.title": ("platform status", "état de la plateforme"),
    "dashboard.checked": ("Checked {checked} (UTC)", "Relevé le {checked} (UTC)"),
    "dashboard.compared": ("compared with {baseline}", "comparé au {baseline}"),
    "dashboard.healthy": ("All healthy", "Tout va bien"),
    "dashboard.action": ("{count} to act on", "{count} à traiter"),
    "dashboard.verdict": ("platform", "plateforme"),
    "dashboard.communes": ("communes", "collectivités"),
    "dashboard.mailboxes": ("mailboxes", "boîtes"),
    "dashboard.stored": ("stored", "stockés"),
    "dashboard.servers": ("servers", "serveurs"),
    "dashboard.new_resolved": ("new / resolved", "nouveaux / résolus"),
    "dashboard.trends": ("Trends", "Évolution"),
    "dashboard.storage_chart": ("Mail stored, all communes", "Courrier stocké, toutes communes"),
    "dashboard.mail_chart": (
        "Messages per day (last 24 h at each status)",
        "Messages par jour (24 h avant chaque relevé)",
    ),
    "dashboard.received": ("received", "reçus"),
    "dashboard.sent": ("sent", "envoyés"),
    "dashboard.too_few_days": (
        "Charts appear once statuses of two days are kept.",
        "Les courbes apparaissent quand deux jours de relevés sont conservés.",
    ),
    "dashboard.server": ("Server", "Serveur"),
    "dashboard.services": ("Services up", "Services actifs"),
    "dashboard.queue": ("Queue", "File"),
    "dashboard.disks": ("Disks", "Disques"),
    "dashboard.certificates": ("Soonest certificate", "Certificat le plus proche"),
    "dashboard.backup": ("Last backup", "Dernière sauvegarde"),
    "dashboard.updates": ("Security updates", "Mises à jour de sécurité"),
    "dashboard.applied": ("Last apply", "Dernier apply"),
    "dashboard.unreachable": ("unreachable", "injoignable"),
    "dashboard.days": ("{days} d", "{days} j"),
    "dashboard.hours": ("{hours} h ago", "il y a {hours} h"),
    "dashboard.never": ("never", "jamais"),
    "dashboard.commune": ("Commune", "Collectivité"),
    "dashboard.storage": ("Storage / quota", "Stockage / quota"),
    "dashboard.days_chart": ("30 days", "30 jours"),
    "dashboard.compliance": ("DNS · RCPNT compliance", "Conformité DNS · RCPNT"),
    "dashboard.mail_24h": ("Mail 24 h", "Courrier 24 h"),
    "dashboard.findings": ("Findings", "Constats"),
    "dashboard.fullest": ("fullest {percent} %", "la plus pleine {percent} %"),
    "dashboard.footer": (
        "Made by fnl-deploy report --html; thresholds: docs/operations.md#status.",
        "Produit par fnl-deploy report --html ; seuils : docs/operations.md#status.",
    ),
    "restore.done": (
        "{server} restored from {archive}: {messages} messages, {dkim} DKIM key(s), "
        "databases {databases}; applied again: zones publish the restored keys",
        "{server} restauré depuis {archive} : {messages} messages, {dkim} clé(s) DKIM, "
        "bases {databases} ; réappliqué : les zones publient les clés restaurées",
    ),
}


def t(key: str, /, **values: object) -> str:
    """The message ``key`` in the current language, with its placeholders filled."""
    # ``key`` is positional-only: a message may itself have a {key} placeholder.
    english, french = MESSAGES[key]
    template = french if language() == "fr" else english
    return template.format(**values)
