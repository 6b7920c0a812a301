package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/jsonutil"
	"github.com/prometheus/prometheus/util/stats"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorType is the errorType field of an error response.
type errorType string

// The error types of Prometheus' API.
const (
	errorBadData     errorType = "bad_data"
	errorExec        errorType = "execution"
	errorTimeout     errorType = "timeout"
	errorCanceled    errorType = "canceled"
	errorInternal    errorType = "internal"
	errorUnavailable errorType = "unavailable"
	errorNotFound    errorType = "not_found"
)

// statusClientClosedRequest is the status Prometheus answers when the client
// went away (nginx' non-standard 499).
const statusClientClosedRequest = 499

// httpStatus maps an error type to the status code Prometheus answers with.
// Unavailable is 503 like Thanos (Prometheus has no case for it).
func (t errorType) httpStatus() int {
	switch t {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedRequest
	case errorTimeout, errorUnavailable:
		return http.StatusServiceUnavailable
	case errorNotFound:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// apiError is an error with the type the client sees.
type apiError struct {
	typ errorType
	err error
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s", e.typ, e.err) }

// execError classifies an error of the engine or of a Querier the way
// Prometheus does: cancellations 499, timeouts 503, storage errors 500,
// everything else 422.
func execError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errorTimeout, err}
	case status.Code(err) == codes.Canceled:
		return &apiError{errorCanceled, err}
	case status.Code(err) == codes.DeadlineExceeded:
		// A querier or store over gRPC ran out of the request's time.
		return &apiError{errorTimeout, err}
	case errors.As(err, &storage):
		return &apiError{errorInternal, err}
	}
	return &apiError{errorExec, err}
}

// apiFunc is one endpoint: it reads the request and returns what to answer.
type apiFunc func(r *http.Request) result

// result is what an apiFunc answers. finalizer, when set, runs after the
// response is written (it releases a query's or querier's memory).
type result struct {
	data      any
	err       *apiError
	warnings  annotations.Annotations
	query     string // for annotation positions
	finalizer func()
}

func errResult(t errorType, err error) result {
	return result{err: &apiError{t, err}}
}

// badParam is Prometheus' "invalid parameter" error.
func badParam(name string, err error) result {
	return errResult(errorBadData, fmt.Errorf("invalid parameter %q: %w", name, err))
}

// response is the envelope of every answer.
type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

// jsonAPI encodes responses like encoding/json (sorted map keys, HTML
// escaping) but writes json.Marshaler output as is, without re-validating
// it: a large matrix is encoded once.
var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// maxAnnotations is how many warnings (and infos) a response carries at most.
const maxAnnotations = 10

func (a *API) respond(w http.ResponseWriter, r *http.Request, res result) {
	warns, infos := res.warnings.AsStrings(res.query, maxAnnotations, maxAnnotations)
	b, err := jsonAPI.Marshal(&response{Status: "success", Data: res.data, Warnings: warns, Infos: infos})
	if err != nil {
		a.logger.Error("marshal api response", "path", r.URL.Path, "err", err)
		a.respondError(w, &apiError{errorInternal, fmt.Errorf("marshal response: %w", err)}, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		a.logger.Debug("write api response", "path", r.URL.Path, "err", err)
	}
}

func (a *API) respondError(w http.ResponseWriter, apiErr *apiError, data any) {
	b, err := jsonAPI.Marshal(&response{
		Status:    "error",
		ErrorType: string(apiErr.typ),
		Error:     apiErr.err.Error(),
		Data:      data,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(apiErr.typ.httpStatus())
	if _, err := w.Write(b); err != nil {
		a.logger.Debug("write api error response", "err", err)
	}
}

// queryData is the data of /query and /query_range. It marshals its result
// exactly like Prometheus (timestamps as float seconds, values as strings,
// native histograms as objects, empty vectors and matrices as []).
type queryData struct {
	Result parser.Value
	Stats  stats.QueryStats
}

// MarshalJSON implements json.Marshaler.
func (d *queryData) MarshalJSON() ([]byte, error) {
	s := jsonAPI.BorrowStream(nil)
	defer jsonAPI.ReturnStream(s)
	s.WriteObjectStart()
	s.WriteObjectField("resultType")
	s.WriteString(string(d.Result.Type()))
	s.WriteMore()
	s.WriteObjectField("result")
	if err := writeValue(s, d.Result); err != nil {
		return nil, err
	}
	if d.Stats != nil {
		b, err := jsonAPI.Marshal(d.Stats)
		if err != nil {
			return nil, fmt.Errorf("marshal query stats: %w", err)
		}
		s.WriteMore()
		s.WriteObjectField("stats")
		s.WriteRaw(string(b))
	}
	s.WriteObjectEnd()
	if s.Error != nil {
		return nil, s.Error
	}
	return append([]byte(nil), s.Buffer()...), nil
}

func writeValue(s *jsoniter.Stream, v parser.Value) error {
	switch v := v.(type) {
	case promql.Vector:
		s.WriteArrayStart()
		for i, smpl := range v {
			if i > 0 {
				s.WriteMore()
			}
			writeSample(s, smpl)
		}
		s.WriteArrayEnd()
	case promql.Matrix:
		s.WriteArrayStart()
		for i, series := range v {
			if i > 0 {
				s.WriteMore()
			}
			writeSeries(s, series)
		}
		s.WriteArrayEnd()
	case promql.Scalar:
		writePoint(s, v.T, func() { jsonutil.MarshalFloat(v.V, s) })
	case promql.String:
		writePoint(s, v.T, func() { s.WriteString(v.V) })
	default:
		return fmt.Errorf("unexpected result type %T", v)
	}
	return nil
}

// writePoint writes [<seconds>, <value>].
func writePoint(s *jsoniter.Stream, t int64, value func()) {
	s.WriteArrayStart()
	jsonutil.MarshalTimestamp(t, s)
	s.WriteMore()
	value()
	s.WriteArrayEnd()
}

func writeSample(s *jsoniter.Stream, smpl promql.Sample) {
	s.WriteObjectStart()
	s.WriteObjectField("metric")
	writeLabels(s, smpl.Metric)
	s.WriteMore()
	if smpl.H == nil {
		s.WriteObjectField("value")
		writePoint(s, smpl.T, func() { jsonutil.MarshalFloat(smpl.F, s) })
	} else {
		s.WriteObjectField("histogram")
		writePoint(s, smpl.T, func() { jsonutil.MarshalHistogram(smpl.H, s) })
	}
	s.WriteObjectEnd()
}

func writeSeries(s *jsoniter.Stream, series promql.Series) {
	s.WriteObjectStart()
	s.WriteObjectField("metric")
	writeLabels(s, series.Metric)
	if len(series.Floats) > 0 {
		s.WriteMore()
		s.WriteObjectField("values")
		s.WriteArrayStart()
		for i, p := range series.Floats {
			if i > 0 {
				s.WriteMore()
			}
			writePoint(s, p.T, func() { jsonutil.MarshalFloat(p.F, s) })
		}
		s.WriteArrayEnd()
	}
	if len(series.Histograms) > 0 {
		s.WriteMore()
		s.WriteObjectField("histograms")
		s.WriteArrayStart()
		for i, p := range series.Histograms {
			if i > 0 {
				s.WriteMore()
			}
			writePoint(s, p.T, func() { jsonutil.MarshalHistogram(p.H, s) })
		}
		s.WriteArrayEnd()
	}
	s.WriteObjectEnd()
}

func writeLabels(s *jsoniter.Stream, ls labels.Labels) {
	s.WriteObjectStart()
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			s.WriteMore()
		}
		first = false
		s.WriteObjectField(l.Name)
		s.WriteString(l.Value)
	})
	s.WriteObjectEnd()
}
