package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/internal/component/receiver"
	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// target is one set of receiving processes under the same load.
type target struct {
	name      string
	procs     []*e2eutil.Process
	endpoints []string // remote-write URLs; sender i uses endpoint i mod len
	// check verifies after the load that what was sent is stored: sent
	// samples answered 2xx, in series distinct series.
	check func(ctx context.Context, sent int64) error
}

// stop stops the target's processes.
func (t *target) stop() {
	for _, p := range t.procs {
		_ = p.Stop(stopTimeout)
	}
}

// stopTimeout is how long a process gets to exit after SIGTERM.
const stopTimeout = 30 * time.Second

// hashringFlag is the flag of `strata receive` that makes it a router in
// a hashring; without it the three-node target is skipped.
const hashringFlag = "--receive.hashrings-file"

// env is what every target needs to start.
type env struct {
	cfg   config
	bins  e2eutil.Binaries
	dir   string
	ports *e2eutil.Ports
}

// receiveNode describes one `strata receive` on the given addresses.
func (e *env) receiveNode(name, grpcAddr, httpAddr, rwAddr string, extra ...string) *e2eutil.Strata {
	dir := filepath.Join(e.dir, name)
	return &e2eutil.Strata{
		Bin: e.bins.Strata, Name: name, Dir: dir, Component: "receive", LogLevel: "info",
		GRPCAddr: grpcAddr, HTTPAddr: httpAddr,
		Args: append([]string{
			"--remote-write.address=" + rwAddr,
			"--tsdb.path=" + filepath.Join(dir, "tsdb"),
		}, extra...),
	}
}

// addrs returns n free loopback addresses.
func (e *env) addrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := e.ports.Addr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// startStrata starts one `strata receive` with a fresh TSDB directory.
func (e *env) startStrata(ctx context.Context) (*target, error) {
	var node *e2eutil.Strata
	var rwAddr string
	proc, err := e2eutil.StartReady(ctx, 3, func() (e2eutil.Spec, error) {
		a, err := e.addrs(3)
		if err != nil {
			return e2eutil.Spec{}, err
		}
		rwAddr = a[2]
		node = e.receiveNode("receive", a[0], a[1], rwAddr, `--label=replica="0"`)
		return node.Spec(), nil
	})
	if err != nil {
		return nil, benchutil.WithLog(err, proc)
	}
	node.Process = proc
	t := &target{name: "strata receive", procs: []*e2eutil.Process{proc}, endpoints: []string{"http://" + rwAddr + receiver.ReceivePath}}
	t.check = func(ctx context.Context, sent int64) error {
		return checkStrata(ctx, []*e2eutil.Strata{node}, e.cfg.series, sent, 1)
	}
	return t, nil
}

// startPrometheus starts a Prometheus with the remote-write receiver on,
// nothing to scrape and a fresh TSDB directory.
func (e *env) startPrometheus(ctx context.Context) (*target, error) {
	prom := &e2eutil.Prometheus{
		Bin: e.bins.Prometheus, Name: "prometheus", Dir: filepath.Join(e.dir, "prometheus"),
		Extra: []string{"--web.enable-remote-write-receiver"},
	}
	if err := prom.Start(ctx, e.ports); err != nil {
		return nil, benchutil.WithLog(err, prom.Process)
	}
	t := &target{name: "prometheus", procs: []*e2eutil.Process{prom.Process}, endpoints: []string{prom.URL() + "/api/v1/write"}}
	t.check = func(ctx context.Context, sent int64) error { return checkPrometheus(ctx, prom, e.cfg, sent) }
	return t, nil
}

// startThreeNodes starts three `strata receive` in one hashring with
// replication factor 3, or returns why it cannot (the binary lacks the
// hashring flags) with a nil target and error.
func (e *env) startThreeNodes(ctx context.Context) (*target, string, error) {
	help, _ := exec.CommandContext(ctx, e.bins.Strata, "receive", "--help").CombinedOutput()
	if !strings.Contains(string(help), hashringFlag) {
		return nil, "strata receive lacks " + hashringFlag, nil
	}
	a, err := e.addrs(9)
	if err != nil {
		return nil, "", err
	}
	grpcAddrs := a[0:3]
	ring, err := json.Marshal([]map[string][]string{{"endpoints": grpcAddrs}})
	if err != nil {
		return nil, "", err
	}
	ringFile := filepath.Join(e.dir, "hashrings.json")
	if err := os.WriteFile(ringFile, ring, 0o644); err != nil {
		return nil, "", fmt.Errorf("write hashring file: %w", err)
	}
	t := &target{name: "strata receive x3 RF3"}
	var nodes []*e2eutil.Strata
	for i := range 3 {
		rw := a[6+i]
		n := e.receiveNode(fmt.Sprintf("receive-%d", i), grpcAddrs[i], a[3+i], rw,
			fmt.Sprintf(`--label=receive_replica="%d"`, i),
			hashringFlag+"="+ringFile,
			"--receive.local-endpoint="+grpcAddrs[i],
			"--receive.replication-factor=3")
		// All three start before any is waited for: a router may only
		// be ready once it sees its peers.
		if n.Process, err = e2eutil.Start(n.Spec()); err != nil {
			t.stop()
			return nil, "", err
		}
		nodes = append(nodes, n)
		t.procs = append(t.procs, n.Process)
		t.endpoints = append(t.endpoints, "http://"+rw+receiver.ReceivePath)
	}
	for _, n := range nodes {
		if err := n.Process.WaitReady(ctx); err != nil {
			err = benchutil.WithLog(err, n.Process)
			t.stop()
			return nil, "", err
		}
	}
	t.check = func(ctx context.Context, sent int64) error { return checkStrata(ctx, nodes, e.cfg.series, sent, 3) }
	return t, "", nil
}

// replicaWait is how long the check waits for the last replicas of the
// last writes: a write is acknowledged once a quorum stored it.
const replicaWait = 30 * time.Second

// checkStrata checks that the nodes together stored sent × copies
// samples (strata_receive_appended_total{kind="sample",result="stored"},
// waiting up to replicaWait for it) and that each node's StoreAPI returns
// series series. With replication factor 3 over three nodes every node
// holds every series.
func checkStrata(ctx context.Context, nodes []*e2eutil.Strata, series int, sent int64, copies int) error {
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	want := float64(sent) * float64(copies)
	var stored float64
	var other map[string]float64 // samples by result other than stored
	for deadline := time.Now().Add(replicaWait); ; {
		stored, other = 0, map[string]float64{}
		for _, n := range nodes {
			page, err := benchutil.Scrape(ctx, client, n.URL()+"/metrics")
			if err != nil {
				return err
			}
			for _, s := range page["strata_receive_appended_total"] {
				switch {
				case s.Labels["kind"] != "sample":
				case s.Labels["result"] == "stored":
					stored += s.Value
				default:
					other[s.Labels["result"]] += s.Value
				}
			}
		}
		if stored >= want || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var errs []error
	if stored != want {
		errs = append(errs, fmt.Errorf("strata_receive_appended_total{kind=\"sample\",result=\"stored\"} is %.0f, want %.0f (other results: %v)", stored, want, other))
	}
	for _, n := range nodes {
		got, err := countStoreSeries(ctx, n.GRPCAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		} else if got != series {
			errs = append(errs, fmt.Errorf("%s: its StoreAPI returns %d series, want %d", n.Name, got, series))
		}
	}
	return errors.Join(errs...)
}

// countStoreSeries counts the series the StoreAPI at addr returns for
// {__name__=~".+"} over all time, without chunks.
func countStoreSeries(ctx context.Context, addr string) (int, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.ForceCodecV2(storepb.Codec{})))
	if err != nil {
		return 0, fmt.Errorf("dial StoreAPI %s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	stream, err := storepb.NewStoreClient(conn).Series(ctx, &storepb.SeriesRequest{
		MinTime: math.MinInt64, MaxTime: math.MaxInt64, SkipChunks: true,
		Matchers:                []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	})
	if err != nil {
		return 0, fmt.Errorf("StoreAPI Series on %s: %w", addr, err)
	}
	n := 0
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("StoreAPI Series on %s: %w", addr, err)
		}
		if r.GetSeries() != nil {
			n++
		}
		n += len(r.GetBatch().GetSeries())
	}
}

// checkPrometheus checks that Prometheus stored sent samples
// (prometheus_tsdb_head_samples_appended_total), that its head holds
// cfg.series series and that count({__name__=~".+"}) at the end of the
// data says so too.
func checkPrometheus(ctx context.Context, prom *e2eutil.Prometheus, cfg config, sent int64) error {
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	page, err := benchutil.Scrape(ctx, client, prom.URL()+"/metrics")
	if err != nil {
		return err
	}
	var errs []error
	if got := page.Sum("prometheus_tsdb_head_samples_appended_total", nil); got != float64(sent) {
		errs = append(errs, fmt.Errorf("prometheus_tsdb_head_samples_appended_total is %.0f, want %d", got, sent))
	}
	if got := page.Sum("prometheus_tsdb_head_series", nil); got != float64(cfg.series) {
		errs = append(errs, fmt.Errorf("prometheus_tsdb_head_series is %.0f, want %d", got, cfg.series))
	}
	c := e2eutil.NewClient(prom.URL())
	defer c.Close()
	c.HTTP.Timeout = 2 * time.Minute
	d, _, err := c.Query(ctx, `count({__name__=~".+"})`, cfg.end(), nil)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(d.Result) != 1 || d.Result[0].Value == nil:
		errs = append(errs, fmt.Errorf(`count({__name__=~".+"}) returned %d series, want one`, len(d.Result)))
	default:
		if got := d.Result[0].Value.Float(); got != float64(cfg.series) {
			errs = append(errs, fmt.Errorf(`count({__name__=~".+"}) is %s, want %d`, strconv.FormatFloat(got, 'f', -1, 64), cfg.series))
		}
	}
	return errors.Join(errs...)
}
