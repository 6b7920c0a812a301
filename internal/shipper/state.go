package shipper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/pkg/metadata"
)

// StateVersion1 is the only version of the state file.
const StateVersion1 = 1

// State is the content of the shipper's state file
// (`{"version":1,"uploaded":["<ULID>",...]}`): the local blocks known to be
// in the bucket. The format is shared with Thanos sidecars, so a Strata
// sidecar can take over a Thanos sidecar's data directory.
type State struct {
	Version  int         `json:"version"`
	Uploaded []ulid.ULID `json:"uploaded"`
}

// ReadState reads the state file at path. A missing file is an empty state
// and no error.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{Version: StateVersion1}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if s.Version != StateVersion1 {
		return nil, fmt.Errorf("%s has version %d, want %d", path, s.Version, StateVersion1)
	}
	return &s, nil
}

// WriteState writes s to path atomically (temporary file, fsync, rename,
// fsync of the directory): after a crash the file is the old or the new
// state, never a torn one.
func WriteState(path string, s *State) (err error) {
	if s.Uploaded == nil {
		s = &State{Version: s.Version, Uploaded: []ulid.ULID{}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "\t")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encode shipper state: %w", err)
	}
	return metadata.WriteFileAtomic(path, buf.Bytes())
}
