"""Read the store's LMDB index (store/mindex.c) from the tests, to check
what a delivery recorded without going through the store itself."""
import struct

import lmdb

USER = struct.Struct("<QQqII24s")       # struct midx_user
MAILBOX = struct.Struct("<QIIQII")      # struct midx_mailbox
MESSAGE = struct.Struct("<IIqQQQ")      # struct midx_message
ENVELOPE = ("date", "subject", "from", "sender", "reply-to", "to", "cc",
            "bcc", "in-reply-to", "message-id")


class Index:
    def __init__(self, dbdir):
        self.env = lmdb.open(dbdir, readonly=True, max_dbs=16, lock=True)
        self.users = self.env.open_db(b"users", create=False)
        self.mailboxes = self.env.open_db(b"mailboxes", create=False)
        self.messages = self.env.open_db(b"messages", create=False)

    def close(self):
        self.env.close()

    def user(self, name):
        with self.env.begin(db=self.users) as txn:
            v = txn.get(name.encode())
        if v is None:
            return None
        b, m, since, warned, init, part = USER.unpack(v[:USER.size])
        return {"bytes": b, "messages": m, "overquota_since": since,
                "warned": warned, "initialized": init,
                "partition": part.rstrip(b"\0").decode()}

    def mailbox(self, user, name="INBOX"):
        with self.env.begin(db=self.mailboxes) as txn:
            v = txn.get(user.encode() + b"\0" + name.encode())
        if v is None:
            return None
        i, uv, un, hms, ex, _ = MAILBOX.unpack(v[:MAILBOX.size])
        return {"id": i, "uidvalidity": uv, "uidnext": un,
                "highestmodseq": hms, "exists": ex}

    def messages_of(self, mailbox_id):
        """{uid: record} of a mailbox."""
        out = {}
        prefix = struct.pack(">Q", mailbox_id)
        with self.env.begin(db=self.messages) as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for k, v in cur:
                    if k[:8] != prefix:
                        break
                    uid = struct.unpack(">I", k[8:12])[0]
                    flags, hsize, date, size, modseq, kw = MESSAGE.unpack(v[:MESSAGE.size])
                    fields = v[MESSAGE.size:].split(b"\0")
                    env = {n: fields[i].decode("utf-8", "replace")
                           for i, n in enumerate(ENVELOPE) if i < len(fields)}
                    out[uid] = {"flags": flags, "header_size": hsize,
                                "internaldate": date, "size": size,
                                "modseq": modseq, "keywords": kw, "envelope": env}
        return out
