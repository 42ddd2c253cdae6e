#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection, offline, with no ignore file.
#
# ansible-test needs the collection at .../ansible_collections/<ns>/<name>/ inside
# a git repository, so the working tree (tracked files plus untracked files that
# are not ignored, exactly what `git ls-files --cached --others --exclude-standard`
# lists) is staged into a temporary directory, committed there and tested there.
#
# ansible-test bootstraps pip in the virtualenvs it creates with a get-pip script
# that it downloads from a host CI cannot reach. We save a stand-in for it in
# ansible-test's cache: it bootstraps pip with ensurepip and then pip-installs the
# requested (pinned) pip from the package index, which is reachable.
#
# Environment:
#   SANITY_PYTHON   Python version to test (default: the venv's python3, e.g. 3.11)
#   SANITY_ARGS     extra ansible-test sanity arguments (e.g. "--test pep8")
#   KEEP_SANITY_TMP set to 1 to keep the staged copy for debugging
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"

if [ -x "$repo/.venv/bin/ansible-test" ]; then
    export PATH="$repo/.venv/bin:$PATH"
fi
command -v ansible-test >/dev/null || { echo "sanity: ansible-test not found (run 'make venv')" >&2; exit 1; }

py=$(command -v python3)
pyver=${SANITY_PYTHON:-$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}

read -r ns name < <("$py" - <<'EOF'
import yaml
with open("galaxy.yml", encoding="utf-8") as f:
    g = yaml.safe_load(f)
print(g["namespace"], g["name"])
EOF
)

# --------------------------------------------------------------- get-pip stand-in
pip_ver=$("$py" - <<'EOF'
import os, re, ansible_test
src = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
with open(src, encoding="utf-8") as f:
    m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", f.read())
if not m:
    raise SystemExit("sanity: cannot find the pip version ansible-test bootstraps in " + src)
print(m.group(1))
EOF
)
cache_dir="$HOME/.ansible/test/cache"
get_pip="$cache_dir/get_pip_${pip_ver//./_}.py"
standin=$(cat <<'EOF'
# get-pip stand-in written by knowledgehub.migration tools/sanity.sh (offline CI).
# ansible-test runs this as get-pip.py with pip's arguments; bootstrap pip from the
# interpreter's bundled wheel, then install the requested packages from the index.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
rc = subprocess.call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
if rc == 0:
    rc = subprocess.call([sys.executable, "-m", "pip", "install"] + args)
sys.exit(rc)
EOF
)
mkdir -p "$cache_dir"
if [ -f "$get_pip" ] && ! grep -q 'knowledgehub.migration tools/sanity.sh' "$get_pip" \
        && head -c 4096 "$get_pip" | grep -q '^# Hi There!'; then
    echo "sanity: keeping the real get-pip script at $get_pip"
elif [ "$(cat "$get_pip" 2>/dev/null)" != "$standin" ]; then
    printf '%s\n' "$standin" > "$get_pip.tmp.$$"
    mv "$get_pip.tmp.$$" "$get_pip"
    echo "sanity: wrote get-pip stand-in $get_pip"
fi

# --------------------------------------------------------------- stage the collection
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kh-sanity.XXXXXX")
cleanup() {
    if [ "${KEEP_SANITY_TMP:-0}" = 1 ]; then
        echo "sanity: staged copy kept at $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
dest="$tmp/ansible_collections/$ns/$name"
mkdir -p "$dest"

git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
          if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi   # skip deleted-but-indexed
      done \
    | tar -C "$repo" --null --no-recursion -T - -cf - \
    | tar -C "$dest" -xf -

git -C "$dest" init -q
git -C "$dest" add -A -f .
git -C "$dest" -c user.name=sanity -c user.email=sanity@localhost -c commit.gpgsign=false \
    commit -q --no-verify -m "sanity snapshot"
nfiles=$(git -C "$dest" ls-files | wc -l)
echo "sanity: staged $nfiles files as $ns.$name in $dest"

# --------------------------------------------------------------- run
log="$tmp/sanity.log"
start=$SECONDS
rc=0
# --venv: the controller and every sanity test run in virtualenvs that ansible-test
# creates and caches under ~/.ansible/test/venv (pip-installed from the index).
# shellcheck disable=SC2086
(cd "$dest" && ansible-test sanity --venv --python "$pyver" --color no ${SANITY_ARGS:-}) 2>&1 \
    | tee "$log" || rc=$?
elapsed=$((SECONDS - start))

ran=$(grep -c '^Running sanity test ' "$log" || true)
# ansible-test runs a test but checks nothing when its program is missing.
skipped=$(grep -cE '^WARNING: (Skipping sanity test|Required program .* not found)' "$log" || true)
echo "------------------------------------------------------------------ sanity summary"
echo "ansible-test sanity (python $pyver): $ran test(s) run, $skipped skipped, ${elapsed}s, exit $rc"
grep -E '^WARNING: (Skipping sanity test|Required program .* not found)' "$log" || true
if [ "$rc" -ne 0 ]; then
    grep -E "^(ERROR|FATAL)" "$log" | head -100 || true
    # keep the machine-readable findings (not the .tmp virtualenvs) for CI artifacts
    rm -rf "$repo/tests/output/sanity"
    mkdir -p "$repo/tests/output/sanity"
    cp -a "$dest/tests/output/bot/." "$repo/tests/output/sanity/" 2>/dev/null || true
    echo "sanity: FAILED (findings as JSON in tests/output/sanity/)"
    exit "$rc"
fi
echo "sanity: $ran passed, 0 failed"
