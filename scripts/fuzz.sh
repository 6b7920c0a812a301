#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the repository (every `func FuzzXxx(f
# *testing.F)` in a *_test.go file), one at a time, each for FUZZTIME, and
# stops at the first failure.
#
#   FUZZTIME=10s ./scripts/fuzz.sh              # all targets, 10s each (default)
#   FUZZTIME=2m  ./scripts/fuzz.sh '^FuzzReader$' # targets whose name matches a regexp
#   FUZZPARALLEL=1 ./scripts/fuzz.sh            # fuzz workers per target (default: GOMAXPROCS)
#
# Targets are found by grep, so a target added in any package is picked up
# without editing this script. `go test -fuzz` takes one target per package
# and run, hence the loop. When a target fails, go writes the failing input
# to <package>/testdata/fuzz/<FuzzXxx>/<hash>: the script prints that path.
# Commit it with the fix: from then on `go test` replays it as a regression.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
filter=${1:-.}

parallel=()
if [[ -n ${FUZZPARALLEL:-} ]]; then
	parallel=(-parallel="$FUZZPARALLEL")
fi

# "<dir> <FuzzName>" per target whose name matches filter, sorted; grep
# prints "./dir/x_test.go:func FuzzName(".
targets=()
while IFS= read -r hit; do
	file=${hit%%:*}
	name=${hit#*:func }
	name=${name%(}
	if [[ $name =~ $filter ]]; then
		targets+=("$(dirname "$file") ${name}")
	fi
done < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(' \
	--exclude-dir=.git --exclude-dir=.bin --exclude-dir=vendor --exclude-dir=testdata . | sort -u)
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz target matches '${filter}'" >&2
	exit 1
fi

echo "fuzz: ${#targets[@]} targets, ${FUZZTIME} each"
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	echo "fuzz: ${dir} ${name}"
	t0=$SECONDS
	out=$(mktemp)
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime="$FUZZTIME" "${parallel[@]}" "${dir}" 2>&1 | tee "$out"; then
		echo >&2
		echo "fuzz: ${name} in ${dir} FAILED" >&2
		# go prints "Failing input written to testdata/fuzz/FuzzXxx/<hash>".
		if entry=$(grep -oE 'testdata/fuzz/[^ ]+' "$out" | head -1); then
			echo "fuzz: new corpus entry: ${dir#./}/${entry}" >&2
			echo "fuzz: replay it with: $GO test -run '^${name}/$(basename "$entry")\$' ${dir}" >&2
		fi
		rm -f "$out"
		exit 1
	fi
	rm -f "$out"
	echo "fuzz: ${name} done in $((SECONDS - t0))s"
done
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
