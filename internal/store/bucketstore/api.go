package bucketstore

import (
	"encoding/json"
	"net/http"
)

// LoadedBlock is one loaded block as BlocksHandler lists it (also what a
// client of GET /api/v1/blocks decodes). Times in milliseconds; MaxTime
// is exclusive, as in meta.json.
type LoadedBlock struct {
	ULID       string            `json:"ulid"`
	MinTime    int64             `json:"minTime"`
	MaxTime    int64             `json:"maxTime"`
	Labels     map[string]string `json:"labels"`
	Resolution int64             `json:"resolution"`
	NumSeries  uint64            `json:"numSeries"`
	NumSamples uint64            `json:"numSamples"`
}

// BlocksHandler serves the loaded blocks (Blocks) as JSON, the store
// gateway's GET /api/v1/blocks:
//
//	{"status": "success", "data": {"blocks": [{"ulid", "minTime", "maxTime",
//	 "labels", "resolution", "numSeries", "numSamples"}, ...]}}
func (s *Store) BlocksHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		blocks := s.Blocks()
		out := make([]LoadedBlock, 0, len(blocks))
		for _, b := range blocks {
			out = append(out, LoadedBlock{
				ULID: b.ID.String(), MinTime: b.MinTime, MaxTime: b.MaxTime, Labels: b.Labels.Map(),
				Resolution: b.Resolution, NumSeries: b.NumSeries, NumSamples: b.NumSamples,
			})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"blocks": out}})
	})
}
