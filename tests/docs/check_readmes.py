#!/usr/bin/env python3
"""The folders' READMEs stay true to the tree (issue 22): each source folder that must have a
README has one, and every file a README names in backticks exists (`name.h`, `name.*` for a
name's .h/.cpp pair, or a path), so that a renamed or removed file cannot stay documented.
Usage: check_readmes.py SOURCE_DIR. Prints each problem; exits 1 if there is any."""
import glob
import os
import re
import sys

# One README each; their subfolders (client/mmctl, kernels/cpu, daemon/text/jinja) are
# described by the one above them.
REQUIRED = ["client", "ipc", "kernels", "daemon/engine", "daemon/frontends",
            "daemon/frontends/dbus", "daemon/frontends/http", "daemon/model", "daemon/service",
            "daemon/text"]
FILE_LIKE = re.compile(r"[\w./-]*\w\.(?:h|cpp|cu|cuh|py|sh|json|xml|toml|jinja|in|\*)\Z")


def tree_files(root):
    """Every file of the source tree by path relative to root (no build or venv folders)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d != "__pycache__"]
        out += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return out


def resolves(root, files, folder, name):
    """A path is taken from the README's folder or any folder above it; a bare name may be
    anywhere in the tree (`make_tokenizers.py`); `name.*` is any extension."""
    pattern = re.escape(name).replace(r"\*", "[^/]*") + r"\Z"
    if name.startswith("../"):
        name = os.path.normpath(os.path.join(os.path.relpath(folder, root), name))
        pattern = re.escape(name).replace(r"\*", "[^/]*") + r"\Z"
        return any(re.match(pattern, f) for f in files)
    if "/" in name:
        here = os.path.relpath(folder, root)
        prefixes = []
        while True:
            prefixes.append("" if here == "." else here + "/")
            if here == ".":
                break
            here = os.path.dirname(here) or "."
        return any(re.match(re.escape(prefix) + pattern, f) for prefix in prefixes for f in files)
    return any(re.match(pattern, os.path.basename(f)) for f in files)


def main():
    root = os.path.abspath(sys.argv[1])
    problems = []
    for folder in REQUIRED:
        if not os.path.isfile(os.path.join(root, folder, "README.md")):
            problems.append(f"{folder}/: no README.md")
    # Any other folder directly under daemon/ or daemon/frontends/ with sources needs one too.
    for parent in ("daemon", "daemon/frontends"):
        for entry in sorted(os.listdir(os.path.join(root, parent))):
            path = os.path.join(root, parent, entry)
            if (os.path.isdir(path) and glob.glob(os.path.join(path, "*.cpp"))
                    and not os.path.isfile(os.path.join(path, "README.md"))):
                problems.append(f"{parent}/{entry}/: sources but no README.md")
    readmes = sorted(glob.glob(os.path.join(root, "daemon", "**", "README.md"), recursive=True) +
                     glob.glob(os.path.join(root, "ipc", "README.md")) +
                     glob.glob(os.path.join(root, "client", "**", "README.md"), recursive=True) +
                     glob.glob(os.path.join(root, "kernels", "**", "README.md"), recursive=True))
    files = tree_files(root)
    for readme in readmes:
        folder = os.path.dirname(readme)
        text = open(readme, encoding="utf-8").read()
        for name in sorted(set(re.findall(r"`([^`\s]+)`", text))):
            # D-Bus names (org.mmd.Error.*) and flags are not files.
            if not FILE_LIKE.match(name) or name.startswith(("org.", "-")):
                continue
            if not resolves(root, files, folder, name):
                problems.append(f"{os.path.relpath(readme, root)}: names `{name}`, which "
                                "does not exist")
    for problem in problems:
        print(problem)
    print(f"{len(readmes)} READMEs checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
