#!/usr/bin/env bash
# Builds and runs every sample on its quick setting and executes the notebook's code cells; exits non-zero on
# the first failure. About 2 minutes on 2 CPU cores. No network and no pretrained weights are needed: the samples
# train tiny random checkpoints on the AG News sample in src/MLNetLlmClassifier.Cli/Data.
#
#   samples/run-all.sh            (from anywhere; .ci/run may call it)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export MLNETLLM_SAMPLES_QUICK=1          # read by the notebook: few rows, one epoch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n=== %s (%d s)\n' "$*" "$SECONDS"; }
bin() { echo "samples/$1/bin/Release/net10.0/$1.dll"; }

step "build"
for project in CompareTrainers ServeModel QuickStart; do
  dotnet build "samples/$project" -c Release -nologo -v quiet -clp:ErrorsOnly
done

step "CompareTrainers --quick"
dotnet "$(bin CompareTrainers)" --quick --out "$work/compare" | tee "$work/compare.txt"
# The table must have a row for each contender whose accuracy and macro-F1 are numbers in (0, 1] and whose log-loss is a finite
# number (NaN or Infinity fails the check, and so does a missing row).
for row in "ML.NET SDCA" "BERT" "Qwen3 prompted"; do
  grep "^$row" "$work/compare.txt" | awk -v row="$row" '
    { n++; acc = $(NF-2); f1 = $(NF-1); loss = $NF
      ok = acc ~ /^[01]\.[0-9]+$/ && f1 ~ /^[01]\.[0-9]+$/ && loss ~ /^[0-9]+\.[0-9]+$/ && acc + 0 > 0 && acc + 0 <= 1 && f1 + 0 > 0 && f1 + 0 <= 1
      if (!ok) { print "CompareTrainers row \"" row "\" has no finite figures: " $0 > "/dev/stderr"; exit 1 } }
    END { if (n == 0) { print "CompareTrainers printed no \"" row "\" row" > "/dev/stderr"; exit 1 } }'
done

step "ServeModel --quick: train and save a tiny model, then serve lines from stdin"
printf 'Stocks rally as the Fed holds rates\nThe Red Sox beat the Yankees in extra innings\n' \
  | dotnet "$(bin ServeModel)" --quick --out "$work/serve" | tee "$work/served.txt"
step "ServeModel --model --text: serve the saved model.zip in a fresh process"
dotnet "$(bin ServeModel)" --model "$work/serve/serve-model.zip" --text "New chip doubles laptop battery life" | tee -a "$work/served.txt"
# One line per text: a known class, a probability, the text.
lines=$(grep -cE $'^(World|Sports|Business|Sci/Tech)\t[01]\\.[0-9]{3}\t' "$work/served.txt" || true)
[ "$lines" -eq 3 ] || { echo "ServeModel answered $lines well-formed lines of 3" >&2; exit 1; }

step "QuickStart: the README's C# program, on 200 AG News rows with the tiny random checkpoints CompareTrainers built"
# A header CSV "label,text" (title and description joined) from every 10th row of the AG News sample.
{ echo "label,text"; awk 'NR % 10 == 1' src/MLNetLlmClassifier.Cli/Data/ag_news_sample.csv \
    | sed -E 's/^"([0-9])","(.*)","(.*)"$/"\1","\2 \3"/'; } > "$work/quickstart.csv"
quickstart=$(pwd)/$(bin QuickStart)
(cd "$work" && dotnet "$quickstart" quickstart.csv compare/bert-tiny-random compare/qwen3-tiny-random) | tee "$work/quickstart.txt"
# Each line must be there with a number in (0, 1] (NaN fails).
for line in "BERT: micro accuracy" "Qwen3: micro accuracy" "Predicted [^ ]+ with probability"; do
  grep -qE "^$line (0\.[0-9]*[1-9][0-9]*|1\.0+)\b" "$work/quickstart.txt" || { echo "QuickStart printed no '$line' line with a number in (0, 1]" >&2; exit 1; }
done

step "notebook samples/notebook/compare-trainers.ipynb"
tools/run-notebook.sh samples/notebook/compare-trainers.ipynb

step "all samples passed"
