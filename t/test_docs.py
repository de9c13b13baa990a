"""Documentation is part of the feature: every configuration key a daemon
knows is described in man/msg.conf.5."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAEMON_CONFIG_FILES = ["common/local.c", "store/config.c", "mta/config.c",
                       "jobctl/config.c"]


def known_keys():
    keys = []
    for rel in DAEMON_CONFIG_FILES:
        text = open(os.path.join(ROOT, rel)).read()
        keys += re.findall(r'^\s*\{ "([a-z0-9.*]+)", CONF_', text, re.M)
    return keys


def test_every_key_is_in_the_man_page():
    page = open(os.path.join(ROOT, "man", "msg.conf.5")).read()
    page = page.replace("\\-", "-").replace(" NAME .path", "*.path").replace(".BR ", "")
    keys = known_keys()
    assert len(keys) > 20
    missing = [k for k in keys if k not in page]
    assert not missing, missing
