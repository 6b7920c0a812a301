package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// upstreamFlag is a flag that the Thanos command of the same name has and
// Strata implements, with a value written the way an upstream deployment
// writes it. A deployment moving from Thanos keeps these arguments as they
// are. The upstream flags Strata leaves out, and why, are in
// docs/upstream-flags.md.
type upstreamFlag struct {
	cmd  string
	flag string // without the leading --
	// value is given as --flag=value; empty for a boolean flag, which is
	// given bare and as --no-flag.
	value string
	// alternative marks the file form of the flag before it (or the
	// other way round): upstream refuses both at once, so it is left out
	// of the argument list of a whole deployment.
	alternative bool
}

const (
	bucketYAML  = "type: FILESYSTEM\nconfig:\n  directory: /var/thanos/bucket"
	relabelYAML = "- action: keep\n  source_labels: [cluster]\n  regex: eu1"
)

// upstreamFlags lists, per command, the upstream Thanos flags (v0.3x) that
// Strata has. The flags every server has come first.
var upstreamFlags = []upstreamFlag{
	// strata's global flags, given after the subcommand as upstream does.
	{cmd: "sidecar", flag: "log.level", value: "debug"},
	{cmd: "sidecar", flag: "log.format", value: "json"},
	{cmd: "store", flag: "log.level", value: "warn"},
	{cmd: "store", flag: "log.format", value: "logfmt"},
	{cmd: "query", flag: "log.level", value: "info"},
	{cmd: "query", flag: "log.format", value: "json"},
	{cmd: "compact", flag: "log.level", value: "error"},
	{cmd: "compact", flag: "log.format", value: "logfmt"},

	// sidecar
	{cmd: "sidecar", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "sidecar", flag: "http-grace-period", value: "2m"},
	{cmd: "sidecar", flag: "http.config", value: "/etc/thanos/web-config.yml"},
	{cmd: "sidecar", flag: "grpc-address", value: "0.0.0.0:10901"},
	{cmd: "sidecar", flag: "grpc-grace-period", value: "2m"},
	{cmd: "sidecar", flag: "grpc-server-tls-cert", value: "/etc/tls/tls.crt"},
	{cmd: "sidecar", flag: "grpc-server-tls-key", value: "/etc/tls/tls.key"},
	{cmd: "sidecar", flag: "grpc-server-tls-client-ca", value: "/etc/tls/ca.crt"},
	{cmd: "sidecar", flag: "grpc-server-max-connection-age", value: "60m"},
	{cmd: "sidecar", flag: "prometheus.url", value: "http://localhost:9090"},
	{cmd: "sidecar", flag: "prometheus.ready_timeout", value: "10m"},
	{cmd: "sidecar", flag: "tsdb.path", value: "/prometheus"},
	{cmd: "sidecar", flag: "objstore.config-file", value: "/etc/thanos/bucket.yml"},
	{cmd: "sidecar", flag: "objstore.config", value: bucketYAML},
	{cmd: "sidecar", flag: "shipper.upload-compacted"},

	// store
	{cmd: "store", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "store", flag: "http-grace-period", value: "2m"},
	{cmd: "store", flag: "http.config", value: "/etc/thanos/web-config.yml"},
	{cmd: "store", flag: "grpc-address", value: "0.0.0.0:10901"},
	{cmd: "store", flag: "grpc-grace-period", value: "2m"},
	{cmd: "store", flag: "grpc-server-tls-cert", value: "/etc/tls/tls.crt"},
	{cmd: "store", flag: "grpc-server-tls-key", value: "/etc/tls/tls.key"},
	{cmd: "store", flag: "grpc-server-tls-client-ca", value: "/etc/tls/ca.crt"},
	{cmd: "store", flag: "grpc-server-max-connection-age", value: "60m"},
	{cmd: "store", flag: "data-dir", value: "/var/thanos/store"},
	{cmd: "store", flag: "objstore.config-file", value: "/etc/thanos/bucket.yml"},
	{cmd: "store", flag: "objstore.config", value: bucketYAML},
	{cmd: "store", flag: "sync-block-duration", value: "3m"},
	{cmd: "store", flag: "block-sync-concurrency", value: "20"},
	{cmd: "store", flag: "min-time", value: "-6w"},
	{cmd: "store", flag: "min-time", value: "2018-01-01T00:00:00Z"},
	{cmd: "store", flag: "max-time", value: "-2w"},
	{cmd: "store", flag: "max-time", value: "2019-01-01T23:59:59Z"},
	{cmd: "store", flag: "selector.relabel-config", value: relabelYAML},
	{cmd: "store", flag: "selector.relabel-config-file", value: "testdata/relabel.yml", alternative: true},
	{cmd: "store", flag: "ignore-deletion-marks-delay", value: "24h"},
	{cmd: "store", flag: "store.limits.request-series", value: "100000"},
	{cmd: "store", flag: "store.limits.request-samples", value: "50000000"},
	{cmd: "store", flag: "store.grpc.series-max-concurrency", value: "20"},
	{cmd: "store", flag: "index-cache-size", value: "250MB"},
	{cmd: "store", flag: "index-cache.config", value: "type: IN-MEMORY\nconfig:\n  max_size: 250MB"},
	{cmd: "store", flag: "index-cache.config-file", value: "/etc/thanos/index-cache.yml", alternative: true},
	{cmd: "store", flag: "store.caching-bucket.config", value: "type: IN-MEMORY\nconfig:\n  max_size: 256MB"},
	{cmd: "store", flag: "store.caching-bucket.config-file", value: "/etc/thanos/caching-bucket.yml", alternative: true},

	// query
	{cmd: "query", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "query", flag: "http-grace-period", value: "2m"},
	{cmd: "query", flag: "http.config", value: "/etc/thanos/web-config.yml"},
	{cmd: "query", flag: "grpc-address", value: "0.0.0.0:10901"},
	{cmd: "query", flag: "grpc-grace-period", value: "2m"},
	{cmd: "query", flag: "grpc-server-tls-cert", value: "/etc/tls/tls.crt"},
	{cmd: "query", flag: "grpc-server-tls-key", value: "/etc/tls/tls.key"},
	{cmd: "query", flag: "grpc-server-tls-client-ca", value: "/etc/tls/ca.crt"},
	{cmd: "query", flag: "grpc-server-max-connection-age", value: "60m"},
	{cmd: "query", flag: "grpc-client-tls-secure"},
	{cmd: "query", flag: "grpc-client-tls-skip-verify"},
	{cmd: "query", flag: "grpc-client-tls-cert", value: "/etc/tls/client.crt"},
	{cmd: "query", flag: "grpc-client-tls-key", value: "/etc/tls/client.key"},
	{cmd: "query", flag: "grpc-client-tls-ca", value: "/etc/tls/ca.crt"},
	{cmd: "query", flag: "grpc-client-server-name", value: "thanos.example.org"},
	{cmd: "query", flag: "endpoint", value: "prometheus-0.sidecar:10901"},
	{cmd: "query", flag: "endpoint", value: "dns+store.monitoring.svc:10901"},
	{cmd: "query", flag: "endpoint", value: "dnssrv+_grpc._tcp.sidecar.monitoring.svc"},
	{cmd: "query", flag: "endpoint.sd-config-file", value: "/etc/thanos/endpoints.yml"},
	{cmd: "query", flag: "store.sd-files", value: "/etc/thanos/sd/*.yml"},
	{cmd: "query", flag: "store.sd-interval", value: "5m"},
	{cmd: "query", flag: "store.sd-dns-interval", value: "30s"},
	{cmd: "query", flag: "store.response-timeout", value: "0ms"},
	{cmd: "query", flag: "query.replica-label", value: "replica"},
	{cmd: "query", flag: "query.replica-label", value: "replica,prometheus_replica"},
	{cmd: "query", flag: "query.timeout", value: "2m"},
	{cmd: "query", flag: "query.max-concurrent", value: "20"},
	{cmd: "query", flag: "query.lookback-delta", value: "15m"},
	{cmd: "query", flag: "query.auto-downsampling"},
	{cmd: "query", flag: "query.partial-response"},
	{cmd: "query", flag: "query.default-evaluation-interval", value: "1m"},
	{cmd: "query", flag: "query.tenant-header", value: "THANOS-TENANT"},
	{cmd: "query", flag: "query.default-tenant-id", value: "default-tenant"},
	{cmd: "query", flag: "query.tenant-label-name", value: "tenant_id"},
	{cmd: "query", flag: "query.enforce-tenancy"},

	// compact
	{cmd: "compact", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "compact", flag: "http-grace-period", value: "2m"},
	{cmd: "compact", flag: "http.config", value: "/etc/thanos/web-config.yml"},
	{cmd: "compact", flag: "data-dir", value: "/var/thanos/compact"},
	{cmd: "compact", flag: "objstore.config-file", value: "/etc/thanos/bucket.yml"},
	{cmd: "compact", flag: "objstore.config", value: bucketYAML},
	{cmd: "compact", flag: "wait"},
	{cmd: "compact", flag: "wait-interval", value: "5m"},
	{cmd: "compact", flag: "retention.resolution-raw", value: "30d"},
	{cmd: "compact", flag: "retention.resolution-5m", value: "90d"},
	{cmd: "compact", flag: "retention.resolution-1h", value: "0d"},
	{cmd: "compact", flag: "downsampling.disable"},
	{cmd: "compact", flag: "block-meta-fetch-concurrency", value: "32"},
	{cmd: "compact", flag: "compact.concurrency", value: "4"},
	{cmd: "compact", flag: "delete-delay", value: "48h"},
	{cmd: "compact", flag: "deduplication.replica-label", value: "replica"},
	{cmd: "compact", flag: "deduplication.func", value: "penalty"},
	{cmd: "compact", flag: "deduplication.func", value: ""},
	{cmd: "compact", flag: "selector.relabel-config", value: relabelYAML},
	{cmd: "compact", flag: "selector.relabel-config-file", value: "testdata/relabel.yml", alternative: true},

	// receive
	{cmd: "receive", flag: "log.level", value: "info"},
	{cmd: "receive", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "receive", flag: "grpc-address", value: "0.0.0.0:10901"},
	{cmd: "receive", flag: "remote-write.address", value: "0.0.0.0:19291"},
	{cmd: "receive", flag: "tsdb.path", value: "/var/thanos/receive"},
	{cmd: "receive", flag: "label", value: `replica="receive-0"`},
	{cmd: "receive", flag: "receive.tenant-header", value: "THANOS-TENANT"},
	{cmd: "receive", flag: "receive.default-tenant-id", value: "default-tenant"},
	{cmd: "receive", flag: "receive.tenant-label-name", value: "tenant_id"},
	{cmd: "receive", flag: "tsdb.retention", value: "15d"},
	{cmd: "receive", flag: "tsdb.out-of-order.time-window", value: "30m"},
	{cmd: "receive", flag: "tsdb.too-far-in-future.time-window", value: "0s"},
	{cmd: "receive", flag: "tsdb.min-block-duration", value: "2h"},
	{cmd: "receive", flag: "tsdb.max-block-duration", value: "2h"},
	{cmd: "receive", flag: "tsdb.max-exemplars", value: "100000"},
	{cmd: "receive", flag: "tsdb.wal-compression"},
	{cmd: "receive", flag: "tsdb.no-lockfile"},
	{cmd: "receive", flag: "receive.hashrings-file", value: "/etc/thanos/hashrings.json"},
	{cmd: "receive", flag: "receive.hashrings", value: `[{"endpoints":["receive-0:10901"]}]`, alternative: true},
	{cmd: "receive", flag: "receive.hashrings-file-refresh-interval", value: "5m"},
	{cmd: "receive", flag: "receive.hashrings-algorithm", value: "ketama"},
	{cmd: "receive", flag: "receive.local-endpoint", value: "receive-0.receive:10901"},
	{cmd: "receive", flag: "receive.replication-factor", value: "3"},
	{cmd: "receive", flag: "receive-forward-timeout", value: "5s"},
	{cmd: "receive", flag: "receive.grpc-compression", value: "snappy"},
	{cmd: "receive", flag: "remote-write.client-tls-cert", value: "/certs/tls.crt"},
	{cmd: "receive", flag: "remote-write.client-tls-key", value: "/certs/tls.key"},
	{cmd: "receive", flag: "remote-write.client-tls-ca", value: "/certs/ca.crt"},
	{cmd: "receive", flag: "remote-write.client-server-name", value: "receive.svc"},
	{cmd: "receive", flag: "receive.limits-config-file", value: "/etc/thanos/limits.yaml"},
	{cmd: "receive", flag: "receive.limits-config", value: "write:\n  global:\n    max_concurrency: 30", alternative: true},
	{cmd: "receive", flag: "objstore.config", value: bucketYAML},

	// rule
	{cmd: "rule", flag: "log.level", value: "info"},
	{cmd: "rule", flag: "log.format", value: "logfmt"},
	{cmd: "rule", flag: "http-address", value: "0.0.0.0:10902"},
	{cmd: "rule", flag: "http-grace-period", value: "2m"},
	{cmd: "rule", flag: "http.config", value: "/etc/thanos/web-config.yml"},
	{cmd: "rule", flag: "grpc-address", value: "0.0.0.0:10901"},
	{cmd: "rule", flag: "grpc-grace-period", value: "2m"},
	{cmd: "rule", flag: "grpc-server-tls-cert", value: "/etc/tls/tls.crt"},
	{cmd: "rule", flag: "grpc-server-tls-key", value: "/etc/tls/tls.key"},
	{cmd: "rule", flag: "grpc-server-tls-client-ca", value: "/etc/tls/ca.crt"},
	{cmd: "rule", flag: "grpc-server-max-connection-age", value: "60m"},
	{cmd: "rule", flag: "query", value: "http://thanos-query:10902"},
	{cmd: "rule", flag: "rule-file", value: "/etc/thanos/rules/*.yaml"},
	{cmd: "rule", flag: "eval-interval", value: "30s"},
	{cmd: "rule", flag: "rule-concurrent-evaluation", value: "4"},
	{cmd: "rule", flag: "rule-query-offset", value: "30s"},
	{cmd: "rule", flag: "data-dir", value: "/var/thanos/rule"},
	{cmd: "rule", flag: "label", value: `rule_replica="thanos-rule-0"`},
	{cmd: "rule", flag: "tsdb.retention", value: "48h"},
	{cmd: "rule", flag: "tsdb.block-duration", value: "2h"},
	{cmd: "rule", flag: "tsdb.wal-compression"},
	{cmd: "rule", flag: "tsdb.no-lockfile"},
	{cmd: "rule", flag: "alertmanagers.url", value: "http://alertmanager:9093"},
	{cmd: "rule", flag: "alertmanagers.config-file", value: "/etc/thanos/alertmanagers.yaml"},
	{cmd: "rule", flag: "alert.relabel-config-file", value: "/etc/thanos/alert-relabel.yaml"},
	{cmd: "rule", flag: "alert.relabel-config", value: "- action: labeldrop\n  regex: replica", alternative: true},
	{cmd: "rule", flag: "alertmanagers.config", value: "alertmanagers:\n- static_configs: [\"am:9093\"]", alternative: true},
	{cmd: "rule", flag: "alertmanagers.send-timeout", value: "10s"},
	{cmd: "rule", flag: "alert.label-drop", value: "rule_replica"},
	{cmd: "rule", flag: "alert.query-url", value: "http://thanos-query:10902"},
	{cmd: "rule", flag: "resend-delay", value: "1m"},
	{cmd: "rule", flag: "for-outage-tolerance", value: "1h"},
	{cmd: "rule", flag: "for-grace-period", value: "10m"},
	{cmd: "rule", flag: "shipper.meta-file-name", value: "thanos.shipper.json"},
	{cmd: "rule", flag: "remote-write.config-file", value: "/etc/thanos/remote-write.yml"},
	{cmd: "rule", flag: "remote-write.config", value: "remote_write:\n- url: http://receive:19291/api/v1/receive", alternative: true},
	{cmd: "rule", flag: "objstore.config-file", value: "/etc/thanos/bucket.yml"},
	{cmd: "rule", flag: "objstore.config", value: bucketYAML, alternative: true},
}

// isBool tells the boolean flags of the table: those given without a value.
// The empty value of --deduplication.func is a value, not a switch.
func (f upstreamFlag) isBool() bool { return f.value == "" && f.flag != "deduplication.func" }

// args are the arguments that give f, as upstream writes them.
func (f upstreamFlag) args() [][]string {
	if f.isBool() {
		return [][]string{{"--" + f.flag}, {"--no-" + f.flag}}
	}
	if strings.HasPrefix(f.value, "-") {
		// A separate "-6w" would read as a short flag, upstream too.
		return [][]string{{"--" + f.flag + "=" + f.value}}
	}
	return [][]string{{"--" + f.flag + "=" + f.value}, {"--" + f.flag, f.value}}
}

// parse parses args with a command line built as strata's, returning the
// command kingpin selected. Nothing runs.
func parse(args ...string) (string, error) {
	app, _, _ := newApp()
	return app.Parse(args)
}

func TestUpstreamFlagsParse(t *testing.T) {
	for _, f := range upstreamFlags {
		for _, a := range f.args() {
			args := append([]string{f.cmd}, a...)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				cmd, err := parse(args...)
				require.NoError(t, err, "strata %s", strings.Join(args, " "))
				require.Equal(t, f.cmd, cmd)
			})
		}
	}
}

// TestUpstreamArgumentListsParse gives all of a command's upstream flags at
// once, as the argument list of a deployment would.
func TestUpstreamArgumentListsParse(t *testing.T) {
	for _, name := range []string{"sidecar", "store", "query", "compact", "receive", "rule"} {
		t.Run(name, func(t *testing.T) {
			args := []string{name}
			n, seen := 0, map[string]bool{}
			for _, f := range upstreamFlags {
				if f.cmd != name || f.alternative || seen[f.flag] {
					continue
				}
				seen[f.flag] = true
				args = append(args, f.args()[0]...)
				n++
			}
			require.Greater(t, n, 5)
			cmd, err := parse(args...)
			require.NoError(t, err, "strata %s", strings.Join(args, " "))
			require.Equal(t, name, cmd)
		})
	}
}

func TestUnknownUpstreamFlagIsRejected(t *testing.T) {
	// The table proves something only if an unknown flag fails to parse.
	_, err := parse("store", "--no-such.flag=1")
	require.ErrorContains(t, err, "no-such.flag")
}

// TestDocumentedMissingFlagsAreUnknown keeps docs/upstream-flags.md exact:
// every upstream flag it lists as missing is unknown to strata, except
// those it says are being added.
func TestDocumentedMissingFlagsAreUnknown(t *testing.T) {
	doc, err := os.ReadFile("../../docs/upstream-flags.md")
	require.NoError(t, err)
	flagRE := regexp.MustCompile("`--([a-zA-Z0-9_.-]+)")
	all := []string{"sidecar", "store", "query", "compact"}
	var cmds []string // the commands of the current section
	n := 0
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "## Every component"):
			cmds = all
		case strings.HasPrefix(line, "## `"):
			cmds = []string{strings.Trim(strings.TrimPrefix(line, "## "), "`")}
		case strings.HasPrefix(line, "## "):
			cmds = nil
		case strings.HasPrefix(line, "| `--") && cmds != nil:
			cols := strings.Split(line, "|")
			if strings.HasPrefix(strings.TrimSpace(cols[2]), "being added") {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(cols[1], -1) {
				for _, cmd := range cmds {
					_, err := parse(cmd, "--"+m[1]+"=1")
					require.ErrorContains(t, err, "unknown long flag '--"+m[1]+"'",
						"strata %s has --%s now: take it out of docs/upstream-flags.md and add it to upstreamFlags", cmd, m[1])
					n++
				}
			}
		}
	}
	require.Greater(t, n, 100, "no flags found in docs/upstream-flags.md: has its layout changed?")
}
