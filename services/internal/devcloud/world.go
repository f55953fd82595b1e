package devcloud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The world's objects. Everything a handler reads that can change (runs'
// status and times, subscriptions) is guarded by Server.mu.
type account struct {
	id               int64
	name, plan       string
	identifier       string // "act_…"
	token            string
	projects         []*project
	envs             []*environment
	jobs             []*job
	subs             []*subscription
	created, updated time.Time
}

type project struct {
	id   int64
	acct *account
	name string
}

type environment struct {
	id                   int64
	proj                 *project
	name, typ, deployTyp string
	dbtVersion           string
}

type job struct {
	id                 int64
	env                *environment
	name, jobType      string
	executeSteps       []string
	generateDocs       bool
	runGenerateSources bool
	dir                string // default artifacts folder of new runs
	steps              []stepSpec
}

func (j *job) acct() *account { return j.env.proj.acct }

type run struct {
	id                         int64
	job                        *job
	status                     int // statusRunning until complete
	created, started, finished time.Time
	readyAt                    time.Time // artifacts are served from then on
	dir                        string
	faults                     Faults
	counts                     faultCounts
	startedSent                bool
}

// faultCounts count one scope's requests for the "first N" faults.
type faultCounts struct{ api, gets, sends atomic.Int64 }

func (r *run) complete() bool { return r.status != statusRunning }

// build turns the account specs into the world, placing complete runs in
// time before now.
func (s *Server) build(specs []AccountSpec, now time.Time) error {
	seen := map[string]bool{}
	unique := func(kind string, id int64) error {
		key := fmt.Sprintf("%s %d", kind, id)
		if id <= 0 {
			return fmt.Errorf("devcloud: %s ID %d must be positive", kind, id)
		}
		if seen[key] {
			return fmt.Errorf("devcloud: %s ID %d is used twice", kind, id)
		}
		seen[key] = true
		return nil
	}
	type pending struct {
		j    *job
		spec RunSpec
		pos  int // runs after it in its job
	}
	var runs []pending
	for _, as := range specs {
		if err := unique("account", as.ID); err != nil {
			return err
		}
		a := &account{id: as.ID, name: cmp.Or(as.Name, fmt.Sprintf("Account %d", as.ID)), plan: cmp.Or(as.Plan, "enterprise"),
			identifier: "act_" + fmt.Sprintf("%027d", as.ID)[:27], token: cmp.Or(as.Token, s.cfg.Token),
			created: time.Date(2024, 2, 5, 14, 3, 11, 482113000, time.UTC)}
		a.updated = a.created.Add(400 * 24 * time.Hour)
		if a.token == "" {
			return fmt.Errorf("devcloud: account %d has no token and Config.Token is empty", as.ID)
		}
		for _, ps := range as.Projects {
			if err := unique("project", ps.ID); err != nil {
				return err
			}
			p := &project{id: ps.ID, acct: a, name: cmp.Or(ps.Name, fmt.Sprintf("project_%d", ps.ID))}
			a.projects = append(a.projects, p)
			for _, es := range ps.Environments {
				if err := unique("environment", es.ID); err != nil {
					return err
				}
				e := &environment{id: es.ID, proj: p, name: cmp.Or(es.Name, "Production"), typ: cmp.Or(es.Type, "deployment"),
					deployTyp: es.DeploymentType, dbtVersion: cmp.Or(es.DBTVersion, "1.10.6")}
				if e.typ != "deployment" && e.typ != "development" {
					return fmt.Errorf("devcloud: environment %d type %q is not deployment or development", e.id, e.typ)
				}
				a.envs = append(a.envs, e)
				for _, js := range es.Jobs {
					if err := unique("job", js.ID); err != nil {
						return err
					}
					j := &job{id: js.ID, env: e, name: cmp.Or(js.Name, fmt.Sprintf("Job %d", js.ID)), jobType: cmp.Or(js.JobType, "scheduled"),
						executeSteps: js.ExecuteSteps, generateDocs: js.GenerateDocs, runGenerateSources: js.RunGenerateSources,
						dir: cmp.Or(js.ArtifactsDir, s.cfg.ArtifactsDir)}
					if len(j.executeSteps) == 0 {
						j.executeSteps = []string{"dbt build"}
					}
					j.steps = makeSteps(j)
					a.jobs = append(a.jobs, j)
					for i, rs := range js.Runs {
						runs = append(runs, pending{j, rs, len(js.Runs) - 1 - i})
					}
				}
			}
		}
		for _, ws := range as.Webhooks {
			if _, err := s.addSub(a, subInput{name: ws.Name, url: ws.URL, events: ws.EventTypes, jobIDs: ws.JobIDs, active: !ws.Inactive}, ws.Secret, now); err != nil {
				return err
			}
		}
		s.accounts = append(s.accounts, a)
	}
	last := now.UTC().Add(-5 * time.Minute).Truncate(time.Microsecond)
	for _, p := range runs {
		if p.spec.ID != 0 {
			if err := unique("run", p.spec.ID); err != nil {
				return err
			}
		}
	}
	for _, p := range runs {
		id := p.spec.ID
		if id == 0 {
			id = s.nextRunID()
			seen[fmt.Sprintf("run %d", id)] = true
		}
		st := cmp.Or(p.spec.Status, statusSuccess)
		if err := checkStatus(st); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
		fin := p.spec.FinishedAt.UTC()
		if fin.IsZero() {
			fin = last.Add(-time.Duration(p.pos) * 24 * time.Hour)
		}
		r := &run{id: id, job: p.j, status: st, finished: fin, dir: cmp.Or(p.spec.ArtifactsDir, p.j.dir), faults: p.spec.Faults}
		r.started = fin.Add(-totalDuration(p.j.steps) - time.Second)
		r.created = r.started.Add(-13*time.Second - 318*time.Microsecond)
		r.readyAt = now.Add(s.delay(r))
		if err := s.insertRun(r); err != nil {
			return err
		}
	}
	return nil
}

// delay is how long after completion a run's artifacts stay 404.
func (s *Server) delay(r *run) time.Duration { return max(r.faults.ArtifactDelay, s.cfg.ArtifactDelay) }

func (s *Server) nextRunID() int64 {
	next := int64(1)
	if n := len(s.runs); n > 0 {
		next = s.runs[n-1].id + 1
	}
	return next
}

// insertRun adds r in ID order, checking its artifacts folder.
func (s *Server) insertRun(r *run) error {
	if r.dir != "" {
		if err := checkDir(r.dir); err != nil {
			return fmt.Errorf("run %d: %w", r.id, err)
		}
		if _, err := s.layout(r.dir, r.job); err != nil {
			return err
		}
	}
	i, found := slices.BinarySearchFunc(s.runs, r.id, func(x *run, id int64) int { return cmp.Compare(x.id, id) })
	if found {
		return fmt.Errorf("devcloud: run ID %d is used twice", r.id)
	}
	s.runs = slices.Insert(s.runs, i, r)
	return nil
}

func (s *Server) findRun(id int64) *run {
	i, ok := slices.BinarySearchFunc(s.runs, id, func(x *run, id int64) int { return cmp.Compare(x.id, id) })
	if !ok {
		return nil
	}
	return s.runs[i]
}

func (s *Server) findAccount(id int64) *account {
	for _, a := range s.accounts {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (s *Server) findJob(id int64) *job {
	for _, a := range s.accounts {
		for _, j := range a.jobs {
			if j.id == id {
				return j
			}
		}
	}
	return nil
}

// AddRun starts a new run of spec.JobID (0: the first job) and returns its
// ID, or 0 if there is no such job or its artifacts folder is unusable. The
// run is Running, with no artifacts, until CompleteRun. spec.Status and
// spec.FinishedAt are not used.
func (s *Server) AddRun(spec RunSpec) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var j *job
	if spec.JobID == 0 {
		if len(s.accounts) > 0 && len(s.accounts[0].jobs) > 0 {
			j = s.accounts[0].jobs[0]
		}
	} else {
		j = s.findJob(spec.JobID)
	}
	if j == nil {
		s.log.Error("devcloud: AddRun: no such job", "job", spec.JobID)
		return 0
	}
	id := spec.ID
	if id == 0 {
		id = s.nextRunID()
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &run{id: id, job: j, status: statusRunning, created: now, started: now, dir: cmp.Or(spec.ArtifactsDir, j.dir), faults: spec.Faults}
	if err := s.insertRun(r); err != nil {
		s.log.Error("devcloud: AddRun", "err", err)
		return 0
	}
	s.log.Info("devcloud: run started", "run", id, "job", j.id)
	return id
}

// StartRun delivers job.run.started for a run AddRun made to the
// subscriptions that want it (CompleteRun does it first otherwise).
func (s *Server) StartRun(ctx context.Context, runID int64) error {
	s.mu.Lock()
	r := s.findRun(runID)
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("devcloud: no run %d", runID)
	}
	targets := s.targets(r, !r.startedSent, false, false)
	r.startedSent = true
	s.mu.Unlock()
	return s.deliverAll(ctx, targets)
}

// CompleteRun ends a running run with status (10, 20 or 30) and delivers
// its webhooks as dbt Cloud does, to every active subscription of the
// account whose job_ids are empty or hold the run's job: job.run.started
// (unless StartRun sent it), job.run.errored for an errored run, then
// job.run.completed (also for a cancelled run: whether dbt sends one is
// not documented). It returns once every delivery ended, with the
// failed deliveries' errors joined.
func (s *Server) CompleteRun(ctx context.Context, runID int64, status int) error {
	if err := checkStatus(status); err != nil {
		return err
	}
	s.mu.Lock()
	r := s.findRun(runID)
	switch {
	case r == nil:
		s.mu.Unlock()
		return fmt.Errorf("devcloud: no run %d", runID)
	case r.complete():
		s.mu.Unlock()
		return fmt.Errorf("devcloud: run %d is already complete", runID)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	r.status, r.finished = status, now
	if !now.After(r.started) {
		r.finished = r.started.Add(time.Millisecond)
	}
	r.readyAt = now.Add(s.delay(r))
	targets := s.targets(r, !r.startedSent, status == statusError, true)
	r.startedSent = true
	s.mu.Unlock()
	s.log.Info("devcloud: run complete", "run", runID, "status", humanStatus(status))
	return s.deliverAll(ctx, targets)
}

// target is one subscription's deliveries for a run, in order.
type target struct {
	sub    *subscription
	bodies [][]byte
	events []string
	ids    []string
}

// targets renders the run's webhooks for each subscription that wants
// them; the caller holds s.mu.
func (s *Server) targets(r *run, started, errored, completed bool) []target {
	var out []target
	now := time.Now()
	for _, sub := range r.job.acct().subs {
		if !sub.active || !sub.wantsJob(r.job.id) {
			continue
		}
		t := target{sub: sub}
		for _, ev := range []struct {
			typ string
			on  bool
		}{{EventRunStarted, started}, {EventRunErrored, errored}, {EventRunCompleted, completed}} {
			if !ev.on || !slices.Contains(sub.events, ev.typ) {
				continue
			}
			id := "wev_" + ksuid()
			body, err := s.webhookPayload(sub, r, ev.typ, id, now)
			if err != nil {
				s.log.Error("devcloud: render webhook", "err", err)
				continue
			}
			t.bodies, t.events, t.ids = append(t.bodies, body), append(t.events, ev.typ), append(t.ids, id)
		}
		if len(t.bodies) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// deliverAll delivers each target's webhooks in order, the targets
// concurrently, and joins the failures.
func (s *Server) deliverAll(ctx context.Context, targets []target) error {
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		wg.Go(func() {
			for k, body := range t.bodies {
				if err := s.deliver(ctx, t.sub, body, t.events[k], t.ids[k]); err != nil {
					errs[i] = errors.Join(errs[i], err)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
