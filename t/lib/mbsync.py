"""mbsync (isync) for the tests: a configuration syncing every mailbox of
one IMAP account over STARTTLS with a local Maildir, runs of it, and what
lands in the Maildir."""
import os
import subprocess
import types


def mbsync_setup(tmp_path, host, port, user, password, ca):
    """A Maildir and an mbsyncrc for user at host:port; .rc and .maildir."""
    maildir = tmp_path / "mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount remote
Host {host}
Port {port}
User {user}
Pass {password}
SSLType STARTTLS
CertificateFile {ca}
AuthMechs LOGIN

IMAPStore remote
Account remote

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    return types.SimpleNamespace(mbsync_rc=str(rc), maildir=str(maildir))


def mbsync(sync, *flags):
    """Run it; it must succeed."""
    out = subprocess.run(["mbsync", *flags, "-c", sync.mbsync_rc, "-a"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def maildir_files(sync, box):
    """The message files of a Maildir folder, cur/ then new/."""
    cur = os.path.join(sync.maildir, box, "cur")
    new = os.path.join(sync.maildir, box, "new")
    return sorted(os.listdir(cur) if os.path.isdir(cur) else []) + \
        sorted(os.listdir(new) if os.path.isdir(new) else [])
