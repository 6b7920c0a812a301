package rule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/rules"
)

// AlertmanagersConfig configures where alerts go.
type AlertmanagersConfig struct {
	// URLs are the Alertmanagers (--alertmanagers.url):
	// http(s)://host:port with an optional path prefix.
	URLs []*url.URL
	// File is --alertmanagers.config-file (or --alertmanagers.config):
	// more Alertmanagers, with their own HTTP client settings.
	File *AlertmanagersFile
	// Timeout bounds one send (--alertmanagers.send-timeout).
	Timeout time.Duration
	// ExternalLabels are added to every alert (--label), except DropLabels.
	ExternalLabels labels.Labels
	// DropLabels are removed from every alert before sending
	// (--alert.label-drop), e.g. the ruler's replica label.
	DropLabels []string
	// Relabel are applied to every alert after DropLabels
	// (--alert.relabel-config(-file)); an alert they drop is not sent.
	Relabel []*relabel.Config
	// QueryURL is the base of each alert's generator URL.
	QueryURL string
	// QueueCapacity bounds the alerts queued while Alertmanagers do not
	// answer (0: DefaultQueueCapacity).
	QueueCapacity int
}

// DefaultQueueCapacity is the number of alerts queued per Alertmanager
// while it does not answer, Prometheus' default.
const DefaultQueueCapacity = 10000

// Validate says what to fix.
func (c AlertmanagersConfig) Validate() error {
	var errs []error
	for _, u := range c.URLs {
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--alertmanagers.url=%s is not a URL like http://alertmanager:9093", u))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--alertmanagers.send-timeout=%s must be positive", c.Timeout))
	}
	for _, l := range c.DropLabels {
		if !model.UTF8Validation.IsValidLabelName(l) {
			errs = append(errs, fmt.Errorf("--alert.label-drop=%q is not a label name", l))
		}
	}
	return errors.Join(errs...)
}

// Alertmanagers sends alerts to Alertmanagers through the Prometheus
// notifier (API v2), queueing them while none answers.
type Alertmanagers struct {
	cfg     AlertmanagersConfig
	manager *notifier.Manager
	targets map[string][]*targetgroup.Group
}

// NewAlertmanagers returns a sender to the configured Alertmanagers; call
// Run to send.
func NewAlertmanagers(cfg AlertmanagersConfig, logger *slog.Logger, reg prometheus.Registerer) (*Alertmanagers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueCapacity <= 0 {
		cfg.QueueCapacity = DefaultQueueCapacity
	}
	ext := labels.NewBuilder(cfg.ExternalLabels)
	var relabels []*relabel.Config
	for _, l := range cfg.DropLabels {
		ext.Del(l)
		relabels = append(relabels, &relabel.Config{
			Action:               relabel.LabelDrop,
			Regex:                relabel.MustNewRegexp(regexp.QuoteMeta(l)),
			NameValidationScheme: model.UTF8Validation,
		})
	}
	m := notifier.NewManager(&notifier.Options{
		QueueCapacity:   cfg.QueueCapacity,
		DrainOnShutdown: true,
		Registerer:      reg,
	}, model.UTF8Validation, logger)
	pcfg := &config.Config{}
	pcfg.GlobalConfig.ExternalLabels = ext.Labels()
	pcfg.GlobalConfig.MetricNameValidationScheme = model.UTF8Validation
	pcfg.AlertingConfig.AlertRelabelConfigs = append(relabels, cfg.Relabel...)
	a := &Alertmanagers{cfg: cfg, manager: m, targets: map[string][]*targetgroup.Group{}}
	for i, u := range cfg.URLs {
		amc := config.DefaultAlertmanagerConfig
		amc.Scheme = u.Scheme
		amc.PathPrefix = strings.TrimSuffix(u.Path, "/")
		amc.Timeout = model.Duration(cfg.Timeout)
		amc.APIVersion = config.AlertmanagerAPIVersionV2
		if u.User != nil {
			pw, _ := u.User.Password()
			amc.HTTPClientConfig.BasicAuth = &commonconfig.BasicAuth{Username: u.User.Username(), Password: commonconfig.Secret(pw)}
		}
		pcfg.AlertingConfig.AlertmanagerConfigs = append(pcfg.AlertingConfig.AlertmanagerConfigs, &amc)
		a.targets[fmt.Sprintf("config-%d", i)] = []*targetgroup.Group{{
			Source:  u.Redacted(),
			Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(u.Host)}},
		}}
	}
	if cfg.File != nil {
		for _, g := range cfg.File.Alertmanagers {
			amc := config.DefaultAlertmanagerConfig
			amc.HTTPClientConfig = g.HTTPConfig
			amc.Scheme = g.Scheme
			amc.PathPrefix = strings.TrimSuffix(g.PathPrefix, "/")
			amc.Timeout = g.Timeout
			amc.APIVersion = config.AlertmanagerAPIVersionV2
			tg := &targetgroup.Group{Source: fmt.Sprintf("alertmanagers-file-%d", len(pcfg.AlertingConfig.AlertmanagerConfigs))}
			for _, addr := range g.StaticConfigs {
				tg.Targets = append(tg.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(addr)})
			}
			a.targets[fmt.Sprintf("config-%d", len(pcfg.AlertingConfig.AlertmanagerConfigs))] = []*targetgroup.Group{tg}
			pcfg.AlertingConfig.AlertmanagerConfigs = append(pcfg.AlertingConfig.AlertmanagerConfigs, &amc)
		}
	}
	if err := m.ApplyConfig(pcfg); err != nil {
		return nil, fmt.Errorf("configure alertmanagers: %w", err)
	}
	return a, nil
}

// NotifyFunc returns the rules manager's hook sending alerts here, with
// generator URLs under --alert.query-url.
func (a *Alertmanagers) NotifyFunc() rules.NotifyFunc {
	return rules.SendAlerts(a.manager, strings.TrimSuffix(a.cfg.QueryURL, "/"))
}

// Run sends queued alerts until ctx is done, then drains the queue.
func (a *Alertmanagers) Run(ctx context.Context) error {
	tsets := make(chan map[string][]*targetgroup.Group, 1)
	tsets <- a.targets
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.manager.Run(tsets)
	}()
	<-ctx.Done()
	a.manager.Stop()
	<-done
	return nil
}
