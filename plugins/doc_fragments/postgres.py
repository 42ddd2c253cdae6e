# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Connection options, named as in community.postgresql so inventories carry over.
    DOCUMENTATION = r'''
options:
  login_user:
    description:
      - The role to connect as.
    type: str
    default: postgres
    aliases: [ login ]
  login_password:
    description:
      - The password of O(login_user).
      - When empty, libpq looks in E(PGPASSWORD), the file named by E(PGPASSFILE) or C(~/.pgpass) on the
        managed host, so the password need not pass through Ansible at all.
      - It is passed to libpq as a keyword, never on a command line, and never returned or logged.
    type: str
    default: ''
  login_host:
    description:
      - Host name or address of the PostgreSQL server. Empty means the local Unix socket.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the server's Unix socket; takes precedence over O(login_host).
    type: str
    default: ''
  login_port:
    description:
      - Port of the PostgreSQL server. KnowledgeHub's compose file publishes it on 5433.
    type: int
    default: 5432
    aliases: [ port ]
  login_db:
    description:
      - Name of the database to migrate.
    type: str
    default: postgres
    aliases: [ db ]
  ssl_mode:
    description:
      - libpq's sslmode for the connection.
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - File of certificate authorities the server certificate is checked against.
    type: path
    aliases: [ ssl_rootcert ]
  ssl_cert:
    description:
      - Client certificate file.
    type: path
  ssl_key:
    description:
      - Client private key file.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a connection before failing.
    type: int
    default: 10
  connect_params:
    description:
      - Further libpq connection parameters, as a dictionary (for example C(target_session_attrs)).
    type: dict
    default: {}
requirements:
  - psycopg2 (C(psycopg2-binary) or the distribution's C(python3-psycopg2)) on the managed host
'''
