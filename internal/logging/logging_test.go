package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Config{Level: "warn", Format: "json"}, &buf)
	require.NoError(t, err)
	l.Info("hidden")
	l.Warn("shown", "endpoint", "127.0.0.1:10901")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), "one JSON line: %s", buf.String())
	require.Equal(t, "shown", line["msg"])
	require.Equal(t, "127.0.0.1:10901", line["endpoint"])

	buf.Reset()
	l, err = New(Config{Level: "debug", Format: "logfmt"}, &buf)
	require.NoError(t, err)
	l.Debug("hello", "k", "v")
	require.Contains(t, buf.String(), "msg=hello k=v")

	_, err = New(Config{Level: "verbose"}, &buf)
	require.ErrorContains(t, err, "use debug, info, warn or error")
	_, err = New(Config{Format: "xml"}, &buf)
	require.ErrorContains(t, err, "use logfmt or json")
}
