#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the repository (every `func FuzzXxx(f
# *testing.F)` in a *_test.go file), one at a time, each for FUZZTIME, and
# stops at the first failure.
#
#   FUZZTIME=10s ./scripts/fuzz.sh              # all targets, 10s each (default)
#   FUZZTIME=2m  ./scripts/fuzz.sh '^FuzzReader$' # targets whose name matches a regexp
#   FUZZPARALLEL=1 ./scripts/fuzz.sh            # fuzz workers per target (default: GOMAXPROCS)
#   FUZZMINIMIZETIME=60s ./scripts/fuzz.sh       # time to minimize each new input (default 5s)
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
# go's default (60s per new input) can take the whole run of a slow target.
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
filter=${1:-.}

parallel=()
if [[ -n ${FUZZPARALLEL:-} ]]; then
	parallel=(-test.parallel="$FUZZPARALLEL")
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cachedir=$("$GO" env GOCACHE)/fuzz # where `go test -fuzz` keeps generated inputs
built=""
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	# One instrumented test binary per package (linking is most of the
	# cost of a short run), run from the package directory so that
	# testdata/fuzz is found and failing inputs are written there. vet
	# is make test's job.
	if [[ $dir != "$built" ]]; then
		t0=$SECONDS
		echo "fuzz: build ${dir}"
		"$GO" test -c -vet=off -fuzz "^${name}\$" -o "$work/fuzz.test" "$dir"
		pkg=$("$GO" list -f '{{.ImportPath}}' "$dir")
		built=$dir
		echo "fuzz: built ${dir} in $((SECONDS - t0))s"
	fi
	echo "fuzz: ${dir} ${name}"
	t0=$SECONDS
	for attempt in 1 2; do
		if (cd "$dir" && "$work/fuzz.test" -test.run='^$' -test.fuzz="^${name}\$" \
			-test.fuzztime="$FUZZTIME" -test.fuzzminimizetime="$FUZZMINIMIZETIME" \
			-test.fuzzcachedir="$cachedir/$pkg" -test.paniconexit0 "${parallel[@]}") 2>&1 | tee "$work/out"; then
			break
		fi
		# go's fuzzing engine sometimes fails a run whose time is up
		# while a worker is still busy with an input ("context deadline
		# exceeded", no failing input): that is not a finding, so the
		# target runs once more.
		if [[ $attempt == 1 ]] && grep -q 'context deadline exceeded' "$work/out" &&
			! grep -q 'Failing input written' "$work/out"; then
			echo "fuzz: ${name}: the engine timed out without a failing input; running it again" >&2
			continue
		fi
		echo >&2
		echo "fuzz: ${name} in ${dir} FAILED" >&2
		# go prints "Failing input written to testdata/fuzz/FuzzXxx/<hash>".
		if entry=$(grep -oE 'testdata/fuzz/[^ ]+' "$work/out" | head -1); then
			echo "fuzz: new corpus entry: ${dir#./}/${entry}" >&2
			echo "fuzz: replay it with: $GO test -run '^${name}/$(basename "$entry")\$' ${dir}" >&2
		fi
		exit 1
	done
	echo "fuzz: ${name} done in $((SECONDS - t0))s"
done
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
