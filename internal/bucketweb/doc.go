// Package bucketweb serves the block viewer over the bucket inventory
// (package block): a web page drawing a timeline of the blocks per stream
// (one row group per set of external labels) and resolution (colours),
// with each block's meta.json and markers, and optional admin actions that
// mark blocks for deletion, no-compact or no-downsample (block.Mark,
// block.Unmark). Handler is mounted by `strata tools bucket web` and
// `strata compact`.
//
// # HTTP API
//
//	GET  /api/v1/blocks[?refresh=1]
//	  {"status":"success","data":{"refreshedAt":..., "admin":bool,
//	   "streams":[{"key":"{a=\"b\"}","labels":{...},
//	               "resolutions":[{"resolution":0,"blocks":[
//	                 {"ulid":..., "minTime":ms, "maxTime":ms (exclusive),
//	                  "meta":{meta.json}, "markers":{"deletion":{...},
//	                  "noCompact":{...}, "noDownsample":{...}}}]}]}],
//	   "partial":[{"ulid":..., "error":"...", "objects":[...], "markers":{}}]}}
//	POST /api/v1/blocks/mark  (form: id, marker, details, remove)
//	  403 unless the Handler was built with Config.Admin
//	  (flag --web.enable-admin-actions); cross-origin posts are refused.
//
// Errors use the Prometheus API shape {"status":"error","errorType","error"}.
package bucketweb
