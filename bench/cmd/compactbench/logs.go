package main

import (
	"bufio"
	"encoding/json"
	"os"
	"time"
)

// logLine is one JSON log line of a strata process (--log.format=json).
type logLine map[string]any

// readLogLines returns the JSON lines of the log file at path; other
// lines (e2eutil's start and exit lines) and a missing file give nothing.
func readLogLines(path string) []logLine {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || b[0] != '{' {
			continue
		}
		var l logLine
		if json.Unmarshal(b, &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// msg is the line's message.
func (l logLine) msg() string { s, _ := l["msg"].(string); return s }

// str is the string value of key, "" when absent.
func (l logLine) str(key string) string { s, _ := l[key].(string); return s }

// int is the numeric value of key, 0 when absent or not a number.
func (l logLine) int(key string) int64 { f, _ := l[key].(float64); return int64(f) }

// duration is the value of key as slog's JSON handler writes a
// time.Duration (nanoseconds), or a duration string; 0 when absent.
func (l logLine) duration(key string) time.Duration {
	switch v := l[key].(type) {
	case float64:
		return time.Duration(v)
	case string:
		d, _ := time.ParseDuration(v)
		return d
	}
	return 0
}

// has reports whether the line carries key.
func (l logLine) has(key string) bool { _, ok := l[key]; return ok }

// phaseTimes sums what the compactor's log says about its first run.
type phaseTimes struct {
	// compact is the time spent in groups (download, merge, upload) and
	// merge the time spent merging only.
	compact, merge time.Duration
	// downsample is the time spent downsampling blocks (download,
	// downsample, upload), by target resolution ("5m", "1h").
	downsample map[string]time.Duration
	// downsampledFrom lists the downsampled blocks (ULIDs), by target
	// resolution.
	downsampledFrom map[string][]string
	// runDone is true once "compactor run done" was logged; runFailed
	// when that line reported failures.
	runDone, runFailed bool
	// run is the duration of the first run as the compactor logged it.
	run time.Duration
}

// readPhaseTimes reads the compactor log at path up to the end of its
// first run.
func readPhaseTimes(path string) phaseTimes {
	pt := phaseTimes{downsample: map[string]time.Duration{}, downsampledFrom: map[string][]string{}}
	for _, l := range readLogLines(path) {
		switch l.msg() {
		case "group done":
			pt.compact += l.duration("duration")
		case "blocks compacted":
			pt.merge += l.duration("duration")
		case "block downsampled":
			// The compactor's line has "resolution"; the downsampler's
			// own line (from, to) times the local part only.
			if l.has("resolution") {
				res := l.str("resolution")
				pt.downsample[res] += l.duration("duration")
				pt.downsampledFrom[res] = append(pt.downsampledFrom[res], l.str("block"))
			}
		case "compactor run done":
			pt.runDone, pt.run = true, l.duration("duration")
			pt.runFailed, _ = l["failures"].(bool)
			return pt
		}
	}
	return pt
}
