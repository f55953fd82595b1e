package devcloud

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// accountObject is a v2 account, in the order of account_get_response.json.
type accountObject struct {
	DocsJobID                 *int64    `json:"docs_job_id"`
	FreshnessJobID            *int64    `json:"freshness_job_id"`
	LockReason                *string   `json:"lock_reason"`
	UnlockIfSubscriptionRenew bool      `json:"unlock_if_subscription_renewed"`
	ReadOnlySeats             int       `json:"read_only_seats"`
	ID                        int64     `json:"id"`
	Name                      string    `json:"name"`
	State                     int       `json:"state"`
	Plan                      string    `json:"plan"`
	PendingCancel             bool      `json:"pending_cancel"`
	RunSlots                  int       `json:"run_slots"`
	DeveloperSeats            int       `json:"developer_seats"`
	QueueLimit                int       `json:"queue_limit"`
	PodMemoryRequestMebibytes int       `json:"pod_memory_request_mebibytes"`
	RunDurationLimitSeconds   int       `json:"run_duration_limit_seconds"`
	EnterpriseAuthMethod      *string   `json:"enterprise_authentication_method"`
	EnterpriseLoginSlug       *string   `json:"enterprise_login_slug"`
	EnterpriseUniqueID        *string   `json:"enterprise_unique_identifier"`
	BillingEmailAddress       *string   `json:"billing_email_address"`
	Locked                    bool      `json:"locked"`
	DevelopFileSystem         bool      `json:"develop_file_system"`
	UnlockedAt                *string   `json:"unlocked_at"`
	CreatedAt                 string    `json:"created_at"`
	UpdatedAt                 string    `json:"updated_at"`
	StarterRepoURL            *string   `json:"starter_repo_url"`
	SSOReauth                 bool      `json:"sso_reauth"`
	GitAuthLevel              string    `json:"git_auth_level"`
	Identifier                string    `json:"identifier"`
	DocsJob                   *struct{} `json:"docs_job"`
	FreshnessJob              *struct{} `json:"freshness_job"`
	EnterpriseLoginURL        string    `json:"enterprise_login_url"`
}

// isoTS is the isoformat layout of v2/v3 non-run objects.
const isoTS = "2006-01-02T15:04:05.000000+00:00"

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a := s.requestAccount(r)
	writeData(w, accountObject{
		ReadOnlySeats: 10, ID: a.id, Name: a.name, State: 1, Plan: a.plan, RunSlots: 15, DeveloperSeats: 10,
		QueueLimit: 50, PodMemoryRequestMebibytes: 600, RunDurationLimitSeconds: 86400, DevelopFileSystem: true,
		CreatedAt: a.created.Format(isoTS), UpdatedAt: a.updated.Format(isoTS), GitAuthLevel: "personal",
		Identifier: a.identifier, EnterpriseLoginURL: "https://devcloud.local/enterprise-login/None/",
	}, nil)
}

// projectObject is a v3 ProjectResponse (the v2 list uses the same fields).
type projectObject struct {
	ID                     int64     `json:"id"`
	Name                   string    `json:"name"`
	AccountID              int64     `json:"account_id"`
	Description            *string   `json:"description"`
	ConnectionID           int64     `json:"connection_id"`
	RepositoryID           int64     `json:"repository_id"`
	SemanticLayerConfigID  *int64    `json:"semantic_layer_config_id"`
	SkippedSetup           *bool     `json:"skipped_setup,omitempty"` // v2 only
	State                  int       `json:"state"`
	DBTProjectSubdirectory *string   `json:"dbt_project_subdirectory"`
	DocsJobID              *int64    `json:"docs_job_id"`
	FreshnessJobID         *int64    `json:"freshness_job_id"`
	Type                   int       `json:"type"`
	CreatedAt              string    `json:"created_at"`
	UpdatedAt              string    `json:"updated_at"`
	Connection             *struct{} `json:"connection"`
	Environments           []any     `json:"environments"`
	Repository             *struct{} `json:"repository"`
	GroupPermissions       []any     `json:"group_permissions"`
	DocsJob                *struct{} `json:"docs_job"`
	FreshnessJob           *struct{} `json:"freshness_job"`
	FusionReadiness        *struct{} `json:"fusion_readiness"`
	DefaultVersion         string    `json:"default_version"`
}

// environmentObject is a v3 EnvironmentV3Response.
type environmentObject struct {
	ID                      int64     `json:"id"`
	AccountID               int64     `json:"account_id"`
	ProjectID               int64     `json:"project_id"`
	CredentialsID           *int64    `json:"credentials_id"`
	ConnectionID            int64     `json:"connection_id"`
	ExtendedAttributesID    *int64    `json:"extended_attributes_id"`
	Name                    string    `json:"name"`
	DBTVersion              string    `json:"dbt_version"`
	RawDBTVersion           string    `json:"raw_dbt_version"`
	Type                    string    `json:"type"`
	UseCustomBranch         bool      `json:"use_custom_branch"`
	CustomBranch            *string   `json:"custom_branch"`
	SupportsDocs            bool      `json:"supports_docs"`
	DeploymentType          *string   `json:"deployment_type"`
	IsDeferrable            bool      `json:"is_deferrable"`
	EnableModelQueryHistory bool      `json:"enable_model_query_history"`
	State                   int       `json:"state"`
	CreatedAt               string    `json:"created_at"`
	UpdatedAt               string    `json:"updated_at"`
	Project                 *struct{} `json:"project"`
	PrimaryProfileID        *int64    `json:"primary_profile_id"`
	Credentials             *struct{} `json:"credentials"`
	FusionReadiness         *struct{} `json:"fusion_readiness"`
}

// v2Environment is a v2 environment: the v3 fields and the v2-only ones.
type v2Environment struct {
	environmentObject
	RepositoryID           int64     `json:"repository_id"`
	CreatedByID            *int64    `json:"created_by_id"`
	DBTProjectSubdirectory *string   `json:"dbt_project_subdirectory"`
	Connection             *struct{} `json:"connection"`
	Repository             *struct{} `json:"repository"`
}

// catalogTimes are an object's created_at and updated_at.
func catalogTimes(id int64) (string, string) {
	t := time.Date(2025, 3, 11, 8, 2, 41, 0, time.UTC).Add(time.Duration(id%9973) * time.Minute)
	return t.Format(isoTS), t.Add(41 * 24 * time.Hour).Format(isoTS)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	a := s.requestAccount(r)
	var all []any
	v2 := strings.HasPrefix(r.URL.Path, "/api/v2/")
	for _, p := range a.projects {
		created, updated := catalogTimes(p.id)
		o := projectObject{ID: p.id, Name: p.name, AccountID: a.id, ConnectionID: p.id + 7, RepositoryID: p.id + 9,
			State: 1, CreatedAt: created, UpdatedAt: updated, Environments: []any{}, GroupPermissions: []any{}, DefaultVersion: "latest"}
		if v2 {
			o.SkippedSetup = new(bool)
		}
		all = append(all, o)
	}
	writePage(w, r, all, map[string]any{"account_id": a.id})
}

// listEnvironments serves v3 projects/{project}/environments/ and the
// deprecated v2 environments/ (?project_id=).
func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	a := s.requestAccount(r)
	filters := map[string]any{"account_id": a.id}
	projectID := r.PathValue("project")
	if projectID == "" {
		projectID = r.URL.Query().Get("project_id")
	}
	var pid int64
	if projectID != "" {
		var err error
		if pid, err = strconv.ParseInt(projectID, 10, 64); err != nil {
			writeError(w, http.StatusNotFound, "The requested resource was not found.")
			return
		}
		filters["project_id"] = pid
	}
	all := []any{}
	for _, e := range a.envs {
		if pid != 0 && e.proj.id != pid {
			continue
		}
		if v := r.URL.Query().Get("deployment_type"); v != "" && v != e.deployTyp {
			continue
		}
		created, updated := catalogTimes(e.id)
		o := environmentObject{ID: e.id, AccountID: a.id, ProjectID: e.proj.id, ConnectionID: e.proj.id + 7,
			Name: e.name, DBTVersion: e.dbtVersion, RawDBTVersion: e.dbtVersion, Type: e.typ, SupportsDocs: e.typ == "deployment",
			IsDeferrable: e.typ == "deployment", State: 1, CreatedAt: created, UpdatedAt: updated}
		if e.deployTyp != "" {
			o.DeploymentType = &e.deployTyp
		}
		if e.typ == "deployment" {
			cred := e.id + 11
			o.CredentialsID = &cred
		}
		if r.PathValue("project") == "" { // the v2 list: also the v2-only fields
			all = append(all, v2Environment{o, e.proj.id + 9, nil, nil, nil, nil})
			continue
		}
		all = append(all, o)
	}
	writePage(w, r, all, filters)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	a := s.requestAccount(r)
	q := r.URL.Query()
	filters := map[string]any{"account_id": a.id}
	ints := map[string]int64{}
	for _, k := range []string{"project_id", "environment_id"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for %s: %q", k, v))
				return
			}
			ints[k], filters[k] = n, n
		}
	}
	all := []any{}
	for _, j := range a.jobs {
		if ints["project_id"] != 0 && ints["project_id"] != j.env.proj.id || ints["environment_id"] != 0 && ints["environment_id"] != j.env.id {
			continue
		}
		all = append(all, jobJSON(j))
	}
	writePage(w, r, all, filters)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "job")
	if !ok {
		return
	}
	j := s.findJob(id)
	if j == nil || j.acct() != s.requestAccount(r) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Job definition with id %d was not found.", id))
		return
	}
	writeData(w, jobJSON(j), nil)
}

// writePage answers one limit/offset page of all, in ID order, with dbt's
// extra (filters, order_by, pagination).
func writePage(w http.ResponseWriter, r *http.Request, all []any, filters map[string]any) {
	limit, offset, ok := paging(w, r.URL.Query().Get("limit"), r.URL.Query().Get("offset"), 100)
	if !ok {
		return
	}
	filters["limit"], filters["offset"] = limit, offset
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	if page == nil {
		page = []any{}
	}
	writeData(w, page, map[string]any{
		"filters":    filters,
		"order_by":   "id",
		"pagination": map[string]int{"count": len(page), "total_count": len(all)},
	})
}
