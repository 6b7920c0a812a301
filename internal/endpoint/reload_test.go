package endpoint

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func TestReadyAfterFirstCheck(t *testing.T) {
	eu := startServer(t, labels.FromStrings("region", "eu"))
	s, err := New(fastConfig(Group{Addresses: []string{eu.addr}}), nil, nil)
	require.NoError(t, err)
	require.Error(t, s.Ready(), "not ready before Run has checked the endpoints")
	runSet(t, s)
	require.Eventually(t, func() bool { return s.Ready() == nil }, 10*time.Second, 10*time.Millisecond)
	st, ok := statusOf(s, eu.addr)
	require.True(t, ok)
	require.False(t, st.LastCheck.IsZero(), "ready means every endpoint was checked once")
}

func TestReloadReplacesGroups(t *testing.T) {
	eu := startServer(t, labels.FromStrings("region", "eu"))
	us := startServer(t, labels.FromStrings("region", "us"))
	s, err := New(fastConfig(Group{Addresses: []string{eu.addr}}), nil, nil)
	require.NoError(t, err)
	runSet(t, s)
	waitHealthy(t, s, eu.addr, true)

	require.Error(t, s.Reload([]Group{{Addresses: []string{"no-port"}}}), "an invalid address is refused")
	require.Equal(t, []string{eu.addr}, names(s), "a refused reload changes nothing")

	require.NoError(t, s.Reload([]Group{{Addresses: []string{us.addr}}}))
	require.Eventually(t, func() bool {
		n := names(s)
		return len(n) == 1 && n[0] == us.addr
	}, 10*time.Second, 10*time.Millisecond, "after the reload only the new group's endpoint is known: %v", names(s))
	st := waitHealthy(t, s, us.addr, true)
	require.Equal(t, []labels.Labels{labels.FromStrings("region", "us")}, st.LabelSets)
}
