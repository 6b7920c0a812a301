package shipper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/oklog/ulid/v2"
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
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(buf.Bytes()); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
