#!/usr/bin/env bash
# Runs the C# code cells of a .NET Interactive (Polyglot) notebook, in order, as one .NET 10 file-based app,
# so that CI checks that a notebook's code compiles and runs without Jupyter or .NET Interactive.
#
#   tools/run-notebook.sh samples/notebook/compare-trainers.ipynb [-- app arguments]
#
# How the cells become a program (samples/notebook/.run/<name>.cs, git-ignored; kept for reading after a failure):
# - `#r "...dll"` lines are dropped: a `#:project` directive on this repository's library replaces them (it brings
#   ML.NET and TorchSharp too); `#r "nuget: Name, Version"` becomes `#:package Name@Version`; other magic lines
#   (`#!...`, `#i ...`) are dropped.
# - `using` directives are moved to the top (a program needs them before its first statement); every other line
#   keeps its place, and `#line` directives make compiler errors name the notebook cell and its line.
# - Implicit usings are off and only the namespaces the notebook kernel imports by default are added, so that a
#   cell missing a `using` fails here as it would in the notebook.
# - Cells must not declare types (classes, records, ...): a top-level program allows them only after all
#   statements. Use local functions, tuples and anonymous types instead; this script stops with the cell number.
# The app is written inside the repository on purpose: a file-based app imports the Directory.Build.props and
# Directory.Build.targets above it, and Directory.Build.targets applies TorchSharp's GLIBCXX fix
# (build/TorchSharpGlibcxxFix.targets). Outside the repository torch would fail to initialise on Debian 12.
# The program runs with the notebook's folder as its working directory, as a notebook kernel does.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 <notebook.ipynb> [-- app arguments]" >&2
  exit 2
fi
notebook=$(realpath "$1")
shift
[ "${1:-}" != "--" ] || shift
repo=$(cd "$(dirname "$0")/.." && pwd)
nbdir=$(dirname "$notebook")
name=$(basename "$notebook" .ipynb)
appdir="$nbdir/.run"
app="$appdir/$name.cs"
mkdir -p "$appdir"
case "$appdir/" in "$repo"/*) ;; *) echo "warning: $appdir is outside $repo: Directory.Build.targets (the GLIBCXX fix) will not apply" >&2 ;; esac

python3 - "$notebook" "$app" "$repo/src/MLNetLlmClassifier/MLNetLlmClassifier.csproj" <<'PY'
import json, os, re, sys

notebook, app, project = sys.argv[1:4]
nb_name = os.path.basename(notebook)
with open(notebook, encoding="utf-8") as f:
    nb = json.load(f)

default_kernel = (nb.get("metadata", {}).get("polyglot_notebook", {}).get("kernelInfo", {}).get("defaultKernelName")
                  or "csharp")
using_directive = re.compile(r"^\s*(global\s+)?using\s+(static\s+)?([A-Za-z_][\w.]*\s*=\s*)?[A-Za-z_][\w.<>, ]*;\s*(//.*)?$")
type_declaration = re.compile(r"^(public\s+|internal\s+|private\s+)?(static\s+|sealed\s+|abstract\s+|partial\s+)*"
                              r"(class|record|struct|interface|enum)\s+\w")
nuget = re.compile(r'^#r\s+"nuget:\s*([^,"\s]+)\s*(?:,\s*([^"\s]+))?\s*"\s*$')

directives = ["#:project " + os.path.relpath(project, os.path.dirname(app)), "#:property ImplicitUsings=disable", "#:property DebugType=none",
              "#:property PublishAot=false"]
usings = ["using System;", "using System.Collections.Generic;", "using System.Linq;", "using System.Text;",
          "using System.Threading.Tasks;"]
body = []
for index, cell in enumerate(nb.get("cells", []), start=1):
    if cell.get("cell_type") != "code":
        continue
    meta = cell.get("metadata", {})
    kernel = (meta.get("polyglot_notebook", {}).get("kernelName")
              or meta.get("dotnet_interactive", {}).get("language") or default_kernel)
    if kernel != "csharp":
        sys.exit(f"{nb_name}: cell {index} is a '{kernel}' cell; only C# cells can run as a program.")
    source = cell.get("source", "")
    lines = ("".join(source) if isinstance(source, list) else source).split("\n")
    body.append(f'#line 1 "{nb_name} (cell {index})"')
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#r "):
            m = nuget.match(stripped)
            if m:
                directives.append(f"#:package {m.group(1)}@{m.group(2)}" if m.group(2) else f"#:package {m.group(1)}")
            body.append("")       # a DLL reference: the #:project directive brings the library and its dependencies
        elif stripped.startswith("#!") or stripped.startswith("#i "):
            body.append("")
        elif using_directive.match(line):
            if stripped not in usings:
                usings.append(stripped)
            body.append("")
        elif type_declaration.match(line):
            sys.exit(f"{nb_name}: cell {index}, line {number} declares a type ({stripped!r}); a top-level program "
                     "cannot have it between statements. Use a local function, a tuple or an anonymous type.")
        else:
            body.append(line)

with open(app + ".tmp", "w", encoding="utf-8") as f:
    f.write("\n".join(directives) + "\n")
    f.write(f"// Generated by tools/run-notebook.sh from {nb_name}: do not edit, edit the notebook.\n")
    f.write("\n".join(usings) + "\n\n")
    f.write("\n".join(body) + "\n")
os.replace(app + ".tmp", app)
PY

echo "Running $name.ipynb's code cells as $app" >&2
cd "$nbdir"
exec dotnet run -c Release --file "$app" -- "$@"
