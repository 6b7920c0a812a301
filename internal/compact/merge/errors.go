package merge

import (
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/pkg/metadata"
)

// BlockError says that one block cannot be compacted safely and why. It
// implements the NoCompactReasoner seam of internal/compact (errors.As finds
// it through wrapping), so that the caller marks the block no-compact with
// Reason and carries on with the other blocks.
type BlockError struct {
	// ID is the block at fault.
	ID ulid.ULID
	// Reason is the reason for the no-compact mark.
	Reason metadata.Reason
	// Err is what was found.
	Err error
}

// Error implements error.
func (e *BlockError) Error() string {
	return fmt.Sprintf("block %s cannot be compacted (%s): %v", e.ID, e.Reason, e.Err)
}

// Unwrap returns the underlying error.
func (e *BlockError) Unwrap() error { return e.Err }

// NoCompactReason is the reason to write in the block's no-compact-mark.json.
func (e *BlockError) NoCompactReason() metadata.Reason { return e.Reason }

// Block is the block at fault.
func (e *BlockError) Block() ulid.ULID { return e.ID }
