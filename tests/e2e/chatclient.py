"""A real XMPP client for the lab tests (slixmpp): logs in to a lab server's Prosody on
127.0.0.1 with a person's mail address and password, over STARTTLS verified in full against
the lab's CA: the certificate must name the commune's own domain, as phone apps require."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from xml.etree import ElementTree

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from tests.e2e.mailclient import password, port
from tests.e2e.webclient import ca_file

UPLOAD_NS = "urn:xmpp:http:upload:0"


class ChatClient(slixmpp.ClientXMPP):
    """One logged-in person: collects the messages it receives, by kind."""

    def __init__(self, address: str, secret: str, server: str):
        super().__init__(address, secret)
        self.lab_server = server
        self.ca_certs = ca_file(server)
        self.received: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
        self.failed: asyncio.Future[str] = asyncio.get_event_loop().create_future()
        self.ready: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
        for plugin in ("xep_0030", "xep_0045", "xep_0199", "xep_0313", "xep_0059"):
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("failed_auth", self._auth_failed)
        self.add_event_handler("message", self._message)
        self.add_event_handler("groupchat_message", self._message)

    async def _started(self, _event: object) -> None:
        self.send_presence()
        await self.get_roster()
        if not self.ready.done():
            self.ready.set_result(True)

    def _auth_failed(self, _event: object) -> None:
        if not self.failed.done():
            self.failed.set_result("authentication failed")

    def _message(self, message: slixmpp.Message) -> None:
        if message["body"]:
            self.received.put_nowait(message)

    async def next_message(self, body: str, timeout: float = 20) -> slixmpp.Message:
        """The first received message with this body (others are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.received.get()
                if message["body"] == body:
                    return message

    async def upload_slot(
        self, domain: str, filename: str, size: int
    ) -> tuple[str, dict[str, str], str]:
        """(PUT URL, its headers, GET URL) from the commune's upload service (XEP-0363)."""
        iq = self.make_iq_get(ito=f"upload.{domain}")
        request = ElementTree.Element(
            f"{{{UPLOAD_NS}}}request",
            {"filename": filename, "size": str(size), "content-type": "text/plain"},
        )
        iq.append(request)
        answer = await iq.send(timeout=15)
        slot = answer.xml.find(f"{{{UPLOAD_NS}}}slot")
        assert slot is not None, answer
        put = slot.find(f"{{{UPLOAD_NS}}}put")
        get = slot.find(f"{{{UPLOAD_NS}}}get")
        assert put is not None and get is not None, answer
        # The slot's authorisation travels in headers the PUT must carry.
        headers = {h.attrib["name"]: h.text or "" for h in put.findall(f"{{{UPLOAD_NS}}}header")}
        return put.attrib["url"], headers, get.attrib["url"]


@contextlib.asynccontextmanager
async def logged_in(
    server: str, address: str, secret: str | None = None
) -> AsyncIterator[ChatClient]:
    """A session of this person on the server's Prosody (via 127.0.0.1)."""
    client = ChatClient(address, secret if secret is not None else password(address), server)
    client.connect("127.0.0.1", port(server, 5222))
    try:
        done, _ = await asyncio.wait(
            [client.ready, client.failed], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert client.ready in done, (
            client.failed.result() if client.failed.done() else "no session within 30 s"
        )
        yield client
    finally:
        client.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnected, 10)


async def login_refused(server: str, address: str, secret: str) -> bool:
    """True when the server refuses this password (SASL failure)."""
    client = ChatClient(address, secret, server)
    client.connect("127.0.0.1", port(server, 5222))
    try:
        done, _ = await asyncio.wait(
            [client.ready, client.failed], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        return client.failed in done
    finally:
        client.disconnect()


async def join_error(client: ChatClient, room: str, nick: str) -> str | None:
    """The error condition a join gets, or None when the room lets this person in."""
    outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def joined(_presence: slixmpp.Presence) -> None:
        if not outcome.done():
            outcome.set_result(None)

    def refused(presence: slixmpp.Presence) -> None:
        if not outcome.done() and presence["from"].bare == room:
            outcome.set_result(presence["error"]["condition"])

    # The MUC plugin's event for this session's presence in the room; a refused join is a
    # plain presence error from the room.
    client.add_event_handler(f"muc::{room}::self-presence", joined)
    client.add_event_handler("presence_error", refused)
    try:
        client.plugin["xep_0045"].join_muc(room, nick)
        return await asyncio.wait_for(outcome, 20)
    finally:
        client.del_event_handler(f"muc::{room}::self-presence", joined)
        client.del_event_handler("presence_error", refused)


async def listed_rooms(client: ChatClient, component: str) -> list[str]:
    """The rooms a person is shown on the commune's rooms service (disco#items)."""
    try:
        items = await client.plugin["xep_0030"].get_items(jid=component, timeout=15)
    except (IqError, IqTimeout) as error:
        return [f"error:{getattr(error, 'condition', 'timeout')}"]
    return [item[0] for item in items["disco_items"]["items"]]
