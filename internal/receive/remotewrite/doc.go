// Package remotewrite decodes and validates Prometheus remote-write requests
// (protocol 1.0 and 2.0) into one internal form, for the receive component.
//
// # Request
//
// A request is an HTTP POST whose body is a snappy block-compressed protobuf
// message. The message type comes from Content-Type:
//
//   - absent, "application/x-protobuf", or "application/x-protobuf;proto=prometheus.WriteRequest":
//     a 1.0 prometheus.WriteRequest;
//   - "application/x-protobuf;proto=io.prometheus.write.v2.Request": a 2.0 request;
//   - any other media type or proto parameter: 415 Unsupported Media Type.
//
// Content-Encoding must be "snappy" or absent (absent is taken as snappy, as
// Prometheus' own receiver does); any other encoding is a 415.
//
// # Bounds
//
// Config.MaxBodyBytes bounds the compressed body: a declared Content-Length
// above it is refused before the body is read, and a body without a declared
// length is read up to the bound plus one byte. Config.MaxDecodedBytes bounds
// the decompressed message: snappy's block header declares the decoded
// length, and a declared length above the bound is refused before anything
// is allocated for it. Both are 413 Request Entity Too Large.
//
// # Validation
//
// Everything a retry cannot fix is a 400 Bad Request (the sender drops the
// batch instead of retrying it forever): corrupt snappy, malformed protobuf,
// an invalid tenant, and per series:
//
//   - a series without a __name__ label, or with an invalid metric name;
//   - an empty or invalid label name (Config.NameValidation: UTF-8 by
//     default, as Prometheus 3; the legacy [a-zA-Z_][a-zA-Z0-9_]* on request);
//   - a label value that is not valid UTF-8;
//   - a label name given twice;
//   - 1.0 only: labels not sorted by name. The 1.0 specification says the
//     labels MUST be sorted, and upstream receivers refuse unsorted ones
//     (series placement hashes the labels in the order sent). A 2.0 series'
//     labels are sorted on decoding instead, since its protobuf definition
//     only says they should be;
//   - 2.0 only: an odd number of label references, a symbol reference
//     (label, exemplar label, help or unit) outside the symbols table, a
//     symbols table whose first entry is not the empty string, and a series
//     with both float samples and histograms;
//   - an invalid native histogram (spans and buckets disagree, and the like),
//     and invalid exemplar labels.
//
// Labels with an empty value are dropped, since Prometheus treats an empty
// value as the label's absence. NaN values and stale markers are valid
// samples. Errors about a series are *SeriesError values naming the series'
// index, its metric name and the label at fault; ErrorStatus maps any error
// of Decode to its HTTP status.
//
// # Response
//
// A 2.0 receiver reports what it wrote in the X-Prometheus-Remote-Write-*-Written
// headers: see WriteStats.
package remotewrite
