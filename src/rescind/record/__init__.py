"""The signed, tamper-evident incident record (record-format.md).

journal      append-only, hash-chained, fsynced journal.jsonl
sshsig       OpenSSH SSHSIG signatures with `cryptography` alone
keys         signing identities: key file, ssh-agent, or a rescind key in the keyring
checkpoint   sign the journal so far; anchor lines kept outside the folder
approval     two-person approval tokens over plan files
report       report.md from the journal
bundle       seal: allowed_signers, SHA256SUMS and its signature
verify       check a folder the way an auditor's stock tools would
"""
