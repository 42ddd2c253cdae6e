# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python3 tests/compose/hosts up|status|down`` (as root), and the health ticker ``up`` starts that way.

Also ``python3 -m hosts ...`` with tests/compose as the working directory.
"""

import os
import sys

if __package__:  # python3 -m hosts
    from .cli import main
else:  # python3 tests/compose/hosts: sys.path[0] is this directory; import the package from its parent
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from hosts.cli import main

sys.exit(main())
