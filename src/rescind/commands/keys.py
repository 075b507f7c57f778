"""`rescind keys`: make or show the key that signs incident records and approvals."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "keys", help="make or show your signing key",
        description="Incident records and two-person approvals are signed with an OpenSSH "
        "Ed25519 key: one rescind makes (`keys init`), your own key file (--key "
        "~/.ssh/id_ed25519), or a key in ssh-agent (--key ~/.ssh/id_ed25519.pub).")
    p.set_defaults(func=lambda _args: _usage(p))
    keys_sub = p.add_subparsers(dest="keys_command", metavar="COMMAND")

    init = keys_sub.add_parser(
        "init", help="make a new Ed25519 signing key",
        description="Make a new Ed25519 signing key for NAME <EMAIL>. The private key goes "
        "into the OS keyring; where there is none, into a 0600 key file in the rescind "
        "config folder (with a warning). Prints the public key and the allowed_signers "
        "line to give your team.")
    init.add_argument("--name", required=True, help="your name, as the record shows it")
    init.add_argument("--email", required=True,
                      help="your email: the principal that names you in allowed_signers")
    init.add_argument("--force", action="store_true",
                      help="replace an existing rescind key (records it signed stay "
                           "verifiable with their allowed_signers)")
    init.set_defaults(func=run_init)

    show = keys_sub.add_parser(
        "show", help="print your public key, fingerprint and allowed_signers line",
        description="Print the public key, its fingerprint and the allowed_signers line of "
        "the key rescind would sign with: --key PATH, else the rescind key, else the "
        "first Ed25519 key in ssh-agent.")
    show.add_argument("--key", type=Path, metavar="PATH",
                      help="a private key file, or a .pub file (the key is in ssh-agent)")
    show.add_argument("--email", help="the email for the allowed_signers line when --key "
                                      "is not the rescind key")
    show.set_defaults(func=run_show)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_init(args: argparse.Namespace) -> int:
    from rescind.record.keys import init_key

    info = init_key(args.name, args.email, force=args.force)
    if info.warning:
        print(info.warning, file=sys.stderr)
    print(f"Made a new Ed25519 signing key for {info.name} <{info.email}>")
    print(f"  public key:   {info.public_key_line}")
    print(f"  fingerprint:  {info.fingerprint}")
    print(f"  stored in:    {info.stored_in}")
    print()
    print("Give your team this allowed_signers line (auditors verify records with it):")
    print(f"  {info.allowed_signers_line}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rescind.errors import RescindError
    from rescind.record import sshsig
    from rescind.record.allowed_signers import signer_line
    from rescind.record.keys import (
        NO_KEY_FIX,
        agent_public_keys,
        check_email,
        load_identity,
        public_key_of,
    )

    identity = load_identity()
    email = check_email(args.email) if args.email else None
    if args.key is not None:
        pub_line = sshsig.public_key_line(public_key_of(args.key))
        where = str(args.key)
        if email is None and identity is not None and \
                identity.public_key.split()[:2] == pub_line.split()[:2]:
            email = identity.email
    elif identity is not None:
        pub_line, email = identity.public_key, email or identity.email
        where = ("OS keyring" if identity.storage == "keyring"
                 else identity.key_file or "key file")
        where = f"rescind key of {identity.name} <{identity.email}>, in {where}"
    else:
        agent_keys = agent_public_keys()
        if not agent_keys:
            raise RescindError("no signing key", fix=NO_KEY_FIX)
        pub_line, where = agent_keys[0], "ssh-agent (its first Ed25519 key)"
    pub = sshsig.parse_public_key_line(pub_line)
    print(f"public key:       {pub_line}")
    print(f"fingerprint:      {sshsig.fingerprint(pub)}")
    print(f"key:              {where}")
    if email:
        print(f"allowed_signers:  {signer_line(email, pub_line)}")
    else:
        print("allowed_signers:  (pass --email to print the line for this key)")
    return 0
