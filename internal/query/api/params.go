package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/query"
)

// Names of the Thanos parameters.
const (
	paramDedup               = "dedup"
	paramPartialResponse     = "partial_response"
	paramReplicaLabels       = "replicaLabels[]"
	paramStoreMatch          = "storeMatch[]"
	paramMaxSourceResolution = "max_source_resolution"
)

var (
	// minTime and maxTime are the defaults of optional start and end
	// parameters; they are Prometheus' values, which clients echo back.
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// parseTime reads a unix timestamp in float seconds (ms precision) or an
// RFC 3339 time. NaN, infinities and numbers outside [minTime, maxTime]
// (which PromQL's int64 milliseconds cannot hold) are errors, not arbitrary
// times.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Strict bounds: the float nearest to a bound may lie beyond it.
		if !(f > float64(minTime.Unix()) && f < float64(maxTime.Unix())) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp: not a number of seconds between %d and %d", s, minTime.Unix(), maxTime.Unix())
		}
		sec, frac := math.Modf(f)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// time.Parse only reads 4-digit years; accept our own bounds.
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// timeParam reads an optional time parameter.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseDuration reads float seconds or a Prometheus duration ("5m", "1h30m").
// NaN and values that overflow int64 nanoseconds are errors.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Second)
		if math.IsNaN(ns) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It is not a number", s)
		}
		// float64(math.MaxInt64) is 2^63, one more than MaxInt64.
		if ns >= float64(math.MaxInt64) || ns < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseTimeout reads the timeout parameter: a positive duration. Zero or a
// negative value would fail every query as timed out (503); it is bad input.
func parseTimeout(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("timeout %q is not positive", s)
	}
	return d, nil
}

// parseLookbackDelta reads the lookback_delta parameter: 0 means the
// default; a negative value, which the engine would silently replace by
// the default, is an error.
func parseLookbackDelta(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative lookback delta %q is not accepted", s)
	}
	return d, nil
}

// limitParam reads the limit parameter; 0 means no limit.
func limitParam(r *http.Request) (int, error) {
	v := r.FormValue("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// boolParam reads an optional boolean parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("'%s' parameter: %w", name, err)
	}
	return b, nil
}

// matchersParam parses match[]-like selectors. Like Prometheus, each
// selector must have a matcher that does not match the empty string.
func (a *API) matchersParam(values []string) ([][]*labels.Matcher, error) {
	for _, v := range values {
		if err := a.cfg.Limits.check("match[]", v); err != nil {
			return nil, err
		}
	}
	sets, err := a.parser.ParseMetricSelectors(values)
	if err != nil {
		return nil, err
	}
	for _, ms := range sets {
		if !hasNonEmptyMatcher(ms) {
			return nil, errors.New("match[] must contain at least one non-empty matcher")
		}
	}
	return sets, nil
}

func hasNonEmptyMatcher(ms []*labels.Matcher) bool {
	for _, m := range ms {
		if m != nil && !m.Matches("") {
			return true
		}
	}
	return false
}

// queryOptions reads the Thanos parameters shared by every data endpoint.
// autoResolution is what max_source_resolution=auto means for this request.
func (a *API) queryOptions(r *http.Request, autoResolution time.Duration) (query.Options, *apiError) {
	var opts query.Options
	var err error
	if err := r.ParseForm(); err != nil {
		return opts, &apiError{errorBadData, fmt.Errorf("error parsing form values: %w", err)}
	}
	if opts.Deduplicate, err = boolParam(r, paramDedup, a.cfg.DefaultDedup); err != nil {
		return opts, &apiError{errorBadData, err}
	}
	if opts.PartialResponse, err = boolParam(r, paramPartialResponse, a.cfg.DefaultPartialResponse); err != nil {
		return opts, &apiError{errorBadData, err}
	}
	opts.ReplicaLabels = a.cfg.ReplicaLabels
	if rl := nonEmpty(r.Form[paramReplicaLabels]); len(rl) > 0 {
		opts.ReplicaLabels = rl
	}
	if apiErr := a.checkQueries(paramStoreMatch, r.Form[paramStoreMatch]); apiErr != nil {
		return opts, apiErr
	}
	for _, s := range r.Form[paramStoreMatch] {
		ms, err := a.parser.ParseMetricSelector(s)
		if err != nil {
			return opts, &apiError{errorBadData, fmt.Errorf("invalid parameter %q: %w", paramStoreMatch, err)}
		}
		opts.StoreMatchers = append(opts.StoreMatchers, ms)
	}
	res, err := a.maxSourceResolution(r, autoResolution)
	if err != nil {
		return opts, &apiError{errorBadData, err}
	}
	opts.MaxResolutionMillis = res.Milliseconds()
	return opts, nil
}

// maxSourceResolution reads max_source_resolution: "auto" (or an absent
// value with Config.AutoDownsampling) means auto; otherwise a duration.
func (a *API) maxSourceResolution(r *http.Request, auto time.Duration) (time.Duration, error) {
	v := r.FormValue(paramMaxSourceResolution)
	switch {
	case v == "auto", v == "" && a.cfg.AutoDownsampling:
		return auto, nil
	case v == "":
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid parameter %q: %w", paramMaxSourceResolution, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative '%s' is not accepted. Try a positive integer", paramMaxSourceResolution)
	}
	return d, nil
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
