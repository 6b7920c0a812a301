// Package storepb holds the StoreAPI wire contract (package thanos, service
// Store) as .proto files, the generated Go code, and helpers to convert
// between wire and Prometheus types. Regenerate with `make proto`.
//
// The contract is in shared/spec/storeapi.md; in short: Series streams
// series sorted by label set (after stripping without_replica_labels), each
// series' chunks sorted by min_time; times are milliseconds, both bounds
// inclusive; a store that cannot serve part of a request sends a warning frame
// under the WARN strategy and fails the stream under ABORT.
package storepb
