package bucketstore

import (
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bucketblock "github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/metadata"
)

// States of strata_blocks_meta_synced: what the last sync did with each
// block directory of the bucket. The names are upstream Thanos'.
const (
	// stateLoaded: served.
	stateLoaded = "loaded"
	// stateFailed: meta.json could not be read (a bucket error), or its
	// index could not be opened; retried at every sync. Queries over the
	// block's range say so.
	stateFailed = "failed"
	// stateCorruptedMeta: meta.json is not valid; retried at every sync.
	// Its time range is unknown: every query says so.
	stateCorruptedMeta = "corrupted-meta-json"
	// stateNoMeta: no meta.json, a partial upload (ignored).
	stateNoMeta = "no-meta-json"
	// stateMarkedForDeletion: deletion mark older than
	// IgnoreDeletionMarksDelay.
	stateMarkedForDeletion = bucketblock.ExcludedByDeletion
	// stateTimeExcluded: outside [MinTime, MaxTime].
	stateTimeExcluded = bucketblock.ExcludedByTime
	// stateLabelExcluded: dropped by the selector relabel configs.
	stateLabelExcluded = bucketblock.ExcludedByLabels
)

var metaSyncedStates = []string{
	stateLoaded, stateFailed, stateCorruptedMeta, stateNoMeta,
	stateMarkedForDeletion, stateTimeExcluded, stateLabelExcluded,
}

// unloadedBlock is a block the last sync should have served but could not:
// state stateFailed or stateCorruptedMeta.
type unloadedBlock struct {
	id    ulid.ULID
	state string
	err   error
	// meta is nil when meta.json could not be read: the block's range is
	// unknown.
	meta *metadata.Meta
	ext  labels.Labels
}

// affects tells whether the block may hold series of a request over
// [mint, maxt] at resolutions up to maxRes matching ms; always for a block
// without meta.json.
func (u *unloadedBlock) affects(mint, maxt, maxRes int64, ms []*labels.Matcher) bool {
	if u.meta == nil {
		return true
	}
	if u.meta.MinTime > maxt || mint >= u.meta.MaxTime || u.meta.Thanos.Downsample.Resolution > maxRes {
		return false
	}
	_, ok := store.SplitMatchers(u.ext, ms)
	return ok
}

// message is the warning (or error) given to the requests the block
// affects: which block, why, and what to do.
func (u *unloadedBlock) message() string {
	fix := fmt.Sprintf("check it with `strata tools bucket verify --deep`, then repair it, or mark it for deletion (`strata tools bucket mark --marker=deletion-mark.json --id=%s`) or delete it", u.id)
	if u.meta == nil {
		return fmt.Sprintf("block %s of the bucket is not served, its meta.json cannot be read (%v): its time range is unknown, the answer may lack its data; %s", u.id, u.err, fix)
	}
	return fmt.Sprintf("block %s [%s, %s) of %s is not served, it could not be loaded (%v): its data is missing from the answer; %s",
		u.id, fmtMs(u.meta.MinTime), fmtMs(u.meta.MaxTime), u.ext, u.err, fix)
}

func fmtMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// unloadedIssues returns the warnings about the blocks the last sync could
// not serve that a request may concern (see unloadedBlock.affects), and,
// when abort is set and a block of known range is concerned, the error that
// fails the request. Called with the request's blocks acquired.
func (s *Store) unloadedIssues(mint, maxt, maxRes int64, ms []*labels.Matcher, abort bool) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var warns []string
	for _, u := range s.unloaded {
		if !u.affects(mint, maxt, maxRes, ms) {
			continue
		}
		if abort && u.meta != nil {
			return nil, status.Error(codes.Unavailable, u.message())
		}
		warns = append(warns, u.message())
	}
	return warns, nil
}
