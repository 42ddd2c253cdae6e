# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the tests share (tests/conftest.py puts tests/ on sys.path, so this is the package ``support``).

* ``paths``: where the repository, the collection, the migrations and the sample data are;
* ``database``: a test database (``Database``) and the cluster-level helpers around it;
* ``modules``: running the collection's modules as Ansible does, ``ok()`` / ``failed()``;
* ``backups``: what pg_backup leaves in a backup directory;
* ``expectations``: migrations/expectations/*.yml;
* ``playbooks``: ansible / ansible-playbook runs and their output;
* ``compose``: helpers for the docker-compose hosts of tests/compose/hosts;
* ``fixtures``, ``backup_fixtures``, ``compose_fixtures``: the fixtures, registered once as pytest plugins by
  tests/conftest.py.
"""
