"""Welcome sheets: one printable A4 page in French per person, from the encrypted store."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from fnl_deploy.compile import compile_tenant
from fnl_deploy.deployment import Deployment, TenantEntry, load_deployment
from fnl_deploy.dns import DAV_PATH
from fnl_deploy.errors import UsageError
from fnl_deploy.i18n import t
from fnl_deploy.model.tenant import DnsMode
from fnl_deploy.model.types import to_u_label
from fnl_deploy.report import Result
from fnl_deploy.secrets import PasswordStore

#: What the servers offer (role mail) and what autoconfig announces.
IMAP_PORT = 993
SUBMISSIONS_PORT = 465
SUBMISSION_PORT = 587

#: Rights on a shared mailbox, as docs/reference.md explains them in French.
RIGHTS_FR = {
    "read": "lecture",
    "write": "lecture, classement et suppression",
    "full": "accès complet, y compris l'envoi au nom de la boîte",
}

#: For names beyond Helvetica's WinAnsi (Nguyễn, Łukasz): Debian's fonts-dejavu-core.
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class SharedAccess:
    address: str  # display form
    name: str | None  # None when the file gives none
    right: str  # read, write or full


@dataclass(frozen=True)
class Sheet:
    """Everything one person's page shows. It holds a password: never log or print it."""

    commune: str
    name: str
    role: str | None
    address: str  # display form: accents in the domain
    login: str  # A-label form: what the servers and older clients take
    password: str = field(repr=False)
    aliases: tuple[str, ...]
    shared: tuple[SharedAccess, ...]
    webmail_url: str
    mail_host: str
    dav_url: str
    profile_url: str | None  # Apple profile (the QR code); None where TLS cannot serve it
    operator: str
    contact: str


def display_address(address: str) -> str:
    local, domain = address.split("@", 1)
    return f"{local}@{to_u_label(domain)}"


def client_names(deployment: Deployment, entry: TenantEntry) -> tuple[str, str | None]:
    """(IMAP/SMTP host, Apple profile base URL or None) for the tenant's people.

    ``mail.<domain>`` and ``autoconfig.<domain>`` are in the certificates only for hosted
    zones (compile._certificate_names): an external zone's people get the server's own
    name, which autoconfig announces too, and no profile their phone would refuse.
    """
    if deployment.dns_mode(entry) is DnsMode.hosted:
        domain = entry.tenant.domain
        return f"mail.{domain}", f"https://autoconfig.{domain}/apple.mobileconfig"
    return deployment.placement(entry).fqdn, None


def build_sheets(
    deployment: Deployment,
    entry: TenantEntry,
    person_ids: Sequence[str],
    passwords: dict[str, dict[str, Any]],
) -> list[Sheet]:
    """The sheets of ``person_ids`` (every person when empty), in tenant-file order."""
    state = compile_tenant(deployment, entry)
    people = [m for m in state["mailboxes"] if m["kind"] == "person"]
    known = [m["person_id"] for m in people]
    unknown = [p for p in person_ids if p not in known]
    if unknown:
        raise UsageError(
            t("welcome.unknown_person", person=unknown[0], tenant=entry.id),
            t("welcome.unknown_person.hint", known=", ".join(sorted(known)) or "-"),
        )
    # A disabled person cannot log in: no sheet ("login" is absent before that feature).
    disabled = {m["person_id"] for m in people if not m.get("login", True)}
    for person_id in person_ids:
        if person_id in disabled:
            raise UsageError(t("welcome.disabled", person=person_id))
    chosen = set(person_ids or known) - disabled
    order = {p.id: i for i, p in enumerate(entry.tenant.people)}
    wanted = sorted(
        (m for m in people if m["person_id"] in chosen), key=lambda m: order[m["person_id"]]
    )
    if not wanted:
        raise UsageError(t("welcome.no_people", tenant=entry.id))
    missing = [m["address"] for m in wanted if m["address"] not in passwords]
    if missing:
        raise UsageError(
            t("welcome.not_yet", addresses=", ".join(missing)),
            t("welcome.not_yet.hint", tenant=entry.id),
        )
    names = {s.address: s.name for s in entry.tenant.shared_mailboxes}
    op = deployment.operator
    mail_host, profile = client_names(deployment, entry)
    sheets = []
    for m in wanted:
        address = m["address"]
        sheets.append(
            Sheet(
                commune=entry.tenant.commune.name,
                name=m["name"],
                role=m["role"],
                address=display_address(address),
                login=address,
                password=passwords[address]["password"],
                aliases=tuple(
                    display_address(a["address"])
                    for a in state["aliases"]
                    if address in a["targets"]
                ),
                shared=tuple(
                    SharedAccess(
                        display_address(r["mailbox"]), names[r["mailbox"].split("@")[0]], r["right"]
                    )
                    for r in state["shared_rights"]
                    if r["member"] == address
                ),
                webmail_url=f"https://{op.webmail_hostname}/",
                mail_host=mail_host,
                dav_url=f"https://{op.webmail_hostname}{DAV_PATH}",
                profile_url=f"{profile}?user={address.split('@')[0]}" if profile else None,
                operator=op.name,
                contact=op.contact,
            )
        )
    return sheets


def check_output(root: Path, output: Path) -> Path:
    """The resolved output path; refused inside the deployment directory (kept in git)."""
    resolved = output.expanduser().resolve()
    inside = root.resolve()
    if resolved.is_relative_to(inside):
        raise UsageError(
            t("welcome.output_inside", path=output, root=root),
            t("welcome.output_inside.hint", name=output.name),
        )
    if not resolved.parent.is_dir():
        raise UsageError(t("welcome.output_no_dir", path=resolved.parent))
    return resolved


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only, atomically: no copy is ever wider.

    mkstemp creates the file 0600 whatever the umask; the rename then replaces any older,
    wider file of that name.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def welcome(root: Path, tenant_id: str, person_ids: Sequence[str], output: Path) -> Result:
    """Write the welcome sheets of a tenant's people (or of ``person_ids``) to ``output``."""
    deployment = load_deployment(root)
    entry = deployment.tenant(tenant_id)
    target = check_output(root, output)
    sheets = build_sheets(deployment, entry, person_ids, PasswordStore.open(root).entries)
    write_private(target, render_pdf(sheets))
    data = {
        "tenant": entry.id,
        "output": str(target),
        "pages": len(sheets),
        "people": [s.login for s in sheets],
    }
    return Result("welcome", data=data, warnings=list(deployment.warnings))


# --- The page ---------------------------------------------------------------------------------


def _fonts(sheets: Sequence[Sheet]) -> tuple[str, str]:
    """(regular, bold): Helvetica, unless a name needs letters beyond WinAnsi (cp1252)."""
    text = "".join(str(value) for s in sheets for value in astuple(s))
    try:
        text.encode("cp1252")
        return "Helvetica", "Helvetica-Bold"
    except UnicodeEncodeError:
        pass
    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        return "Helvetica", "Helvetica-Bold"
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
    # So that <b> in paragraphs finds the bold face.
    pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold")
    return "DejaVuSans", "DejaVuSans-Bold"


def render_pdf(sheets: Sequence[Sheet]) -> bytes:
    """One A4 page per sheet, as PDF bytes (reportlab, imported here: only this needs it)."""
    import io

    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        HRFlowable,
        KeepInFrame,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _fonts(sheets)
    mono = "Courier-Bold"  # logins and passwords are ASCII; a fixed width tells l from I
    ink = colors.HexColor("#1f2a44")
    accent = colors.HexColor("#1f4e79")
    muted = colors.HexColor("#5a6270")
    pale = colors.HexColor("#eef3f8")
    rule = colors.HexColor("#c5d3e2")

    def style(name: str, **kw: Any) -> ParagraphStyle:
        base = {"fontName": regular, "fontSize": 10, "leading": 13.5, "textColor": ink}
        return ParagraphStyle(name, **{**base, **kw})

    commune = style("commune", fontName=bold, fontSize=20, leading=24, textColor=accent)
    kicker = style("kicker", fontSize=10.5, textColor=muted, spaceBefore=2)
    person = style("person", fontName=bold, fontSize=16, leading=20, spaceBefore=12)
    role = style("role", fontSize=11, textColor=muted)
    heading = style(
        "heading", fontName=bold, fontSize=12, leading=15, textColor=accent, spaceBefore=12
    )
    body = style("body", spaceBefore=4)
    label = style("label", textColor=muted)
    value = style("value", fontName=bold)
    code = style("code", fontName=mono, fontSize=10)
    password = style("password", fontName=mono, fontSize=17, leading=20)
    small = style("small", fontSize=8.5, leading=11, textColor=muted)
    warning = style("warning", fontName=bold, spaceBefore=6)

    def p(text: str, st: ParagraphStyle) -> Paragraph:
        return Paragraph(text, st)

    def x(text: str) -> str:
        return escape(text)

    width, height = A4
    margin, footer_room, padding = 2 * cm, 1.6 * cm, 6  # padding: platypus Frame default
    frame_w = width - 2 * margin - 2 * padding
    frame_h = height - 2 * margin - footer_room - 2 * padding

    def qr(url: str, size: float) -> Drawing:
        widget = QrCodeWidget(url, barLevel="M")
        x1, y1, x2, y2 = widget.getBounds()
        drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
        drawing.add(widget)
        return drawing

    padded = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
    ]

    def identifiers(rows: list[list[Any]]) -> Table:
        table = Table(rows, colWidths=[5.2 * cm, frame_w - 5.2 * cm], hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    *padded,
                    ("BACKGROUND", (0, 0), (-1, -1), pale),
                    ("BOX", (0, 0), (-1, -1), 0.8, rule),
                    ("TOPPADDING", (0, 0), (-1, 0), 8),
                    ("BOTTOMPADDING", (0, -1), (-1, -1), 8),
                ]
            )
        )
        return table

    def servers(rows: list[list[Any]]) -> Table:
        """Label, host, ports; the last row (the DAV URL) spans host and ports."""
        widths = [3.8 * cm, frame_w - 8.1 * cm, 4.3 * cm]
        table = Table(rows, colWidths=widths, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    *padded,
                    ("LINEABOVE", (0, 0), (-1, 0), 0.4, rule),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, rule),
                    ("RIGHTPADDING", (-1, 0), (-1, -1), 2),
                    ("SPAN", (1, -1), (2, -1)),
                ]
            )
        )
        return table

    def page(s: Sheet) -> list[Any]:
        out: list[Any] = [
            p(x(s.commune), commune),
            p("Votre messagerie et votre agenda", kicker),
            HRFlowable(width="100%", thickness=1.2, color=accent, spaceBefore=8),
            p(x(s.name), person),
        ]
        if s.role:
            out.append(p(x(s.role[:1].upper() + s.role[1:]), role))
        if s.login == s.address:
            account = [[p("Adresse et identifiant", label), p(x(s.login), code)]]
        else:  # an IDN: the servers (and older clients) know the address by its A-label
            account = [
                [p("Adresse", label), p(x(s.address), value)],
                [
                    p("Identifiant, et adresse pour les logiciels anciens", label),
                    p(x(s.login), code),
                ],
            ]
        account.append([p("Mot de passe initial", label), p(x(s.password), password)])
        out += [
            p("Vos identifiants", heading),
            identifiers(account),
            p(
                "Changez ce mot de passe à la première connexion : il vous appartient ensuite.",
                warning,
            ),
        ]
        if s.aliases:
            out.append(
                p("Vous recevez aussi le courrier adressé à : " + x(", ".join(s.aliases)), body)
            )
        out += [
            p("Sur le web", heading),
            p(
                f"Messagerie, agenda et contacts : <b>{x(s.webmail_url)}</b><br/>"
                "Connectez-vous avec votre identifiant et votre mot de passe ; c'est là aussi "
                "que vous changez votre mot de passe (Préférences).",
                body,
            ),
            p("Dans un logiciel de messagerie (Thunderbird, Outlook, Apple Mail…)", heading),
            p(
                "Identifiant et mot de passe : ceux ci-dessus ; authentification par "
                "« mot de passe normal ».",
                body,
            ),
            Spacer(1, 4),
            servers(
                [
                    [
                        p("Réception (IMAP)", label),
                        p(x(s.mail_host), code),
                        p(f"port {IMAP_PORT}, SSL/TLS", body),
                    ],
                    [
                        p("Envoi (SMTP)", label),
                        p(x(s.mail_host), code),
                        p(
                            f"port {SUBMISSIONS_PORT}, SSL/TLS<br/>"
                            f"ou port {SUBMISSION_PORT}, STARTTLS",
                            body,
                        ),
                    ],
                    [
                        p("Agenda et contacts<br/>(CalDAV, CardDAV)", label),
                        p(x(s.dav_url), code),
                        "",
                    ],
                ]
            ),
            p("Sur votre téléphone", heading),
        ]
        if s.profile_url:
            text = p(
                "<b>iPhone, iPad :</b> visez ce code avec l'appareil photo, ouvrez le lien, "
                "puis installez le profil dans Réglages (messagerie, agenda et contacts ; "
                "votre mot de passe vous sera demandé).<br/><br/>"
                "<b>Android :</b> l'adresse et le mot de passe suffisent, l'application de "
                "messagerie trouve seule les réglages. Pour l'agenda et les contacts, une "
                "application CalDAV/CardDAV (DAVx5 par exemple) avec l'adresse ci-dessus.",
                body,
            )
            phone = Table(
                [[qr(s.profile_url, 3.6 * cm), [text, Spacer(1, 4), p(x(s.profile_url), small)]]],
                colWidths=[4.2 * cm, frame_w - 4.2 * cm],
                hAlign="LEFT",
            )
            phone.setStyle(
                TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LEFTPADDING", (0, 0), (0, 0), 0),
                    ]
                )
            )
            out.append(phone)
        else:
            out.append(
                p(
                    "Ajoutez un compte de messagerie IMAP avec les réglages ci-dessus ; pour "
                    "l'agenda et les contacts, un compte CalDAV/CardDAV avec l'adresse "
                    "ci-dessus (DAVx5 sur Android, Réglages › Calendrier sur iPhone).",
                    body,
                )
            )
        if s.shared:
            out.append(p("Boîtes partagées", heading))
            out.append(
                p(
                    "Vous avez accès à ces boîtes ; elles apparaissent comme des dossiers "
                    "partagés dans votre messagerie.",
                    body,
                )
            )
            for access in s.shared:
                out.append(
                    p(
                        f"• <b>{x(access.address)}</b>"
                        + (f" ({x(access.name)})" if access.name else "")
                        + f" : {x(RIGHTS_FR[access.right])}",
                        style("item", leftIndent=10, spaceBefore=2),
                    )
                )
        # Shrink rather than spill: one person, one sheet of paper.
        return [KeepInFrame(frame_w, frame_h, out, mode="shrink")]

    operator, contact = sheets[0].operator, sheets[0].contact

    def footer(canvas: Any, _doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(rule)
        canvas.setLineWidth(0.6)
        canvas.line(margin, margin + 0.9 * cm, width - margin, margin + 0.9 * cm)
        canvas.setFillColor(muted)
        canvas.setFont(regular, 9)
        canvas.drawString(margin, margin + 0.4 * cm, f"Votre contact : {operator} — {contact}")
        canvas.setFont(regular, 8)
        canvas.drawString(
            margin,
            margin,
            "Document personnel et confidentiel : détruisez-le une fois votre mot de passe changé.",
        )
        canvas.restoreState()

    story: list[Any] = []
    for i, sheet in enumerate(sheets):
        if i:
            story.append(PageBreak())
        story += page(sheet)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + footer_room,
        title=f"Fiches d'accueil — {sheets[0].commune}",
        author=operator,
        lang="fr-FR",
        invariant=True,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
