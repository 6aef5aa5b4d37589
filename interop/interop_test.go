package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/def"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	iam "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v3"
	iammodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v3/model"
)

// binary is the phonefleet binary built from the parent module.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "phonefleet-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "phonefleet")
	build := exec.Command("go", "build", "-o", binary, "./cmd/phonefleet")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build phonefleet:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs a phonefleet command with stdin and returns its stdout.
func cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("phonefleet %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// serve starts "phonefleet serve" on a free port and returns its base URL.
func serve(t *testing.T, db string) string {
	t.Helper()
	// Huawei's Go SDK signs the headers it sets (x-sdk-date, x-project-id),
	// not host: phonefleet refuses such signatures unless told.
	cmd := exec.Command(binary, "serve", "--db", db, "--addr", "127.0.0.1:0", "--log-format", "json", "--aksk-unsigned-host")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("serve exited before listening")
		}
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30s")
	}
	return ""
}

// envelope is phonefleet's KooPhone response body, as the SDK core fills
// a response struct.
type envelope struct {
	Data           json.RawMessage `json:"data"`
	ErrorCode      string          `json:"error_code"`
	ErrorMsg       string          `json:"error_msg"`
	HttpStatusCode int             `json:"-"`
}

type idsBody struct {
	InstanceIDList []string `json:"instanceIdList,omitempty"`
	InstanceIDs    []string `json:"instance_ids,omitempty"`
}

// bodyRequest is a KooPhone request with a JSON body and the
// x-request-id header KooPhone clients send.
type bodyRequest struct {
	RequestID string `json:"x-request-id"`
	Body      any    `json:"body,omitempty"`
}

// newRequestID returns a fresh request ID for one call.
func newRequestID() string {
	requestIDs++
	return fmt.Sprintf("interop-%d-%d", time.Now().UnixNano(), requestIDs)
}

var requestIDs int

// pageRequest is batch-query's query string.
type pageRequest struct {
	PageNo   int32 `json:"page_no"`
	PageSize int32 `json:"page_size"`
}

// postDef returns the SDK core definition of a POST with a JSON body.
func postDef(path string) *def.HttpRequestDef {
	return def.NewHttpRequestDefBuilder().
		WithMethod(http.MethodPost).
		WithPath(path).
		WithContentType("application/json").
		WithResponse(new(envelope)).
		WithRequestField(def.NewFieldDef().WithName("RequestID").WithJsonTag("x-request-id").WithLocationType(def.Header)).
		WithRequestField(def.NewFieldDef().WithName("Body").WithLocationType(def.Body)).
		Build()
}

// batchQueryDef returns the definition of GET /v1/instances/batch-query.
func batchQueryDef() *def.HttpRequestDef {
	return def.NewHttpRequestDefBuilder().
		WithMethod(http.MethodGet).
		WithPath("/v1/instances/batch-query").
		WithResponse(new(envelope)).
		WithRequestField(def.NewFieldDef().WithName("PageNo").WithJsonTag("page_no").WithLocationType(def.Query)).
		WithRequestField(def.NewFieldDef().WithName("PageSize").WithJsonTag("page_size").WithLocationType(def.Query)).
		Build()
}

// koophone returns an SDK core client signed with the access key. Without
// a project ID the SDK looks it up with GET /v3/projects?name=<region>.
func koophone(t *testing.T, url, ak, sk string) *core.HcHttpClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithIamEndpointOverride(url).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.NewHcHttpClientBuilder().WithRegion(region.NewRegion("cn-north-4", url)).WithCredential(cred).SafeBuild()
	if err != nil {
		t.Fatalf("build the SDK client (it looks up the project ID): %v", err)
	}
	return c
}

func TestHuaweiSDK(t *testing.T) {
	db := filepath.Join(t.TempDir(), "phonefleet.db")
	tenantID := strings.TrimSpace(cli(t, "", "tenant", "create", "acme", "--db", db))
	cli(t, "correct horse battery\n", "user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin", "--db", db)
	var key struct {
		AK string `json:"access_key_id"`
		SK string `json:"secret_access_key"`
	}
	if err := json.Unmarshal([]byte(cli(t, "", "accesskey", "create", "--tenant", "acme", "--user", "alice", "--db", db)), &key); err != nil {
		t.Fatal(err)
	}
	url := serve(t, db)

	t.Run("IAMToken", func(t *testing.T) {
		// A global client without a domain ID looks it up with GET
		// /v3/auth/domains, signed with the key.
		cred, err := global.NewCredentialsBuilder().WithAk(key.AK).WithSk(key.SK).WithIamEndpointOverride(url).SafeBuild()
		if err != nil {
			t.Fatal(err)
		}
		hc, err := iam.IamClientBuilder().WithRegion(region.NewRegion("cn-north-4", url)).WithCredential(cred).SafeBuild()
		if err != nil {
			t.Fatalf("build the IAM client: %v", err)
		}
		if cred.DomainId != tenantID {
			t.Fatalf("the SDK found domain ID %q, want the tenant %q", cred.DomainId, tenantID)
		}
		client := iam.NewIamClient(hc)
		project, nocatalog := "cn-north-4", "true"
		resp, err := client.KeystoneCreateUserTokenByPassword(&iammodel.KeystoneCreateUserTokenByPasswordRequest{
			Nocatalog: &nocatalog,
			Body: &iammodel.KeystoneCreateUserTokenByPasswordRequestBody{Auth: &iammodel.PwdAuth{
				Identity: &iammodel.PwdIdentity{
					Methods: []iammodel.PwdIdentityMethods{iammodel.GetPwdIdentityMethodsEnum().PASSWORD},
					Password: &iammodel.PwdPassword{User: &iammodel.PwdPasswordUser{
						Name: "alice", Password: "correct horse battery", Domain: &iammodel.PwdPasswordUserDomain{Name: "acme"},
					}},
				},
				Scope: &iammodel.AuthScope{Project: &iammodel.AuthScopeProject{Name: &project}},
			}},
		})
		if err != nil {
			t.Fatalf("KeystoneCreateUserTokenByPassword: %v", err)
		}
		if resp.HttpStatusCode != 201 || resp.XSubjectToken == nil || *resp.XSubjectToken == "" || resp.Token == nil {
			t.Fatalf("token response: %+v", resp)
		}
		if tk := resp.Token; tk.User == nil || tk.User.Name != "alice" || tk.Project == nil || tk.Project.Name != "cn-north-4" || tk.Catalog != nil {
			t.Fatalf("token=%+v, want alice's, scoped to cn-north-4, without a catalog", tk)
		}

		// The token works on the KooPhone API.
		req, _ := http.NewRequest("GET", url+"/v1/instances/batch-query?page_no=1&page_size=10", nil)
		req.Header.Set("X-Auth-Token", *resp.XSubjectToken)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("batch-query with the IAM token: %d", r.StatusCode)
		}

		// A wrong password is the SDK's ServiceResponseError with 401.
		wrong := "wrong password!"
		_, err = client.KeystoneCreateUserTokenByPassword(&iammodel.KeystoneCreateUserTokenByPasswordRequest{
			Body: &iammodel.KeystoneCreateUserTokenByPasswordRequestBody{Auth: &iammodel.PwdAuth{
				Identity: &iammodel.PwdIdentity{
					Methods:  []iammodel.PwdIdentityMethods{iammodel.GetPwdIdentityMethodsEnum().PASSWORD},
					Password: &iammodel.PwdPassword{User: &iammodel.PwdPasswordUser{Name: "alice", Password: wrong, Domain: &iammodel.PwdPasswordUserDomain{Name: "acme"}}},
				},
				Scope: &iammodel.AuthScope{Project: &iammodel.AuthScopeProject{Name: &project}},
			}},
		})
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.StatusCode != 401 {
			t.Fatalf("wrong password: %v, want a 401 ServiceResponseError", err)
		}
	})

	client := koophone(t, url, key.AK, key.SK)
	var ids []string

	t.Run("Create", func(t *testing.T) {
		resp, err := client.Sync(&bodyRequest{RequestID: newRequestID(), Body: map[string]any{
			"os": "AOSP14", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": "kp.band.bgp.standard", "regionId": "cn-north-4",
			"instanceNamePrefix": "sdk", "bandSize": 4, "count": 2,
			"chargeParam": map[string]any{"chargingMode": 1, "periodType": 2, "periodNum": 1, "isAutoPay": 1},
		}}, postDef("/v1/instances/create"))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		var data struct {
			InstanceInfos []struct {
				InstanceID string `json:"instanceId"`
			} `json:"instanceInfos"`
		}
		env := resp.(*envelope)
		if err := json.Unmarshal(env.Data, &data); err != nil || env.ErrorCode != "0" || len(data.InstanceInfos) != 2 {
			t.Fatalf("create: %+v (%v)", env, err)
		}
		for _, in := range data.InstanceInfos {
			ids = append(ids, in.InstanceID)
		}
	})
	if len(ids) != 2 {
		t.Fatal("no instances to work with")
	}

	statuses := func(t *testing.T, c *core.HcHttpClient) map[string]int {
		t.Helper()
		resp, err := c.Sync(&bodyRequest{RequestID: newRequestID(), Body: idsBody{InstanceIDs: ids}}, postDef("/v1/instances/batch-query-status"))
		if err != nil {
			t.Fatalf("batch-query-status: %v", err)
		}
		var data struct {
			Results []struct {
				InstanceID string `json:"instance_id"`
				Status     int    `json:"status"`
			} `json:"status_results"`
		}
		if err := json.Unmarshal(resp.(*envelope).Data, &data); err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range data.Results {
			out[r.InstanceID] = r.Status
		}
		return out
	}

	t.Run("BatchQuery", func(t *testing.T) {
		resp, err := client.Sync(&pageRequest{PageNo: 1, PageSize: 10}, batchQueryDef())
		if err != nil {
			t.Fatalf("batch-query: %v", err)
		}
		env := resp.(*envelope)
		var data struct {
			TotalCount int `json:"total_count"`
		}
		if err := json.Unmarshal(env.Data, &data); err != nil || env.HttpStatusCode != 200 || data.TotalCount != 2 {
			t.Fatalf("batch-query: %+v %s (%v)", env, env.Data, err)
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		before := statuses(t, client)
		bad := koophoneWithProject(t, url, key.AK, key.SK+"x", tenantID)
		_, err := bad.Sync(&bodyRequest{RequestID: newRequestID(), Body: idsBody{InstanceIDList: ids[:1]}}, postDef("/v1/instances/delete"))
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.StatusCode != 401 || se.ErrorCode != "APIGW.0301" ||
			se.ErrorMessage != "Incorrect IAM authentication information: verify aksk signature fail" {
			t.Fatalf("delete with a wrong secret: %v, want 401 APIGW.0301", err)
		}
		if after := statuses(t, client); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("statuses %v after a refused delete, want %v", after, before)
		}
	})

	t.Run("NotOwned", func(t *testing.T) {
		_, err := client.Sync(&bodyRequest{RequestID: newRequestID(), Body: idsBody{InstanceIDList: []string{ids[0], "zzzzzzzz"}}}, postDef("/v1/instances/delete"))
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != "KOOPHONE.API.1012" || !strings.Contains(se.ErrorMessage, "zzzzzzzz") {
			t.Fatalf("delete of a foreign ID: %v, want KOOPHONE.API.1012 naming it", err)
		}
		if se.RequestId == "" {
			t.Fatal("no request ID in the SDK's error")
		}
	})

	t.Run("Delete", func(t *testing.T) {
		before := statuses(t, client)
		resp, err := client.Sync(&bodyRequest{RequestID: newRequestID(), Body: idsBody{InstanceIDList: ids[:1]}}, postDef("/v1/instances/delete"))
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if env := resp.(*envelope); env.HttpStatusCode != 200 || env.ErrorCode != "0" || env.ErrorMsg != "OK" {
			t.Fatalf("delete: %+v", env)
		}
		after := statuses(t, client)
		if after[ids[0]] == before[ids[0]] || after[ids[1]] != before[ids[1]] {
			t.Fatalf("statuses %v -> %v: want only %s unsubscribed", before, after, ids[0])
		}
	})

	// The audit trail names the user behind the key.
	if out := cli(t, "", "audit", "--db", db, "--limit", "1"); !regexp.MustCompile(`"user":"alice"`).MatchString(out) {
		t.Fatalf("audit %s: want the user", out)
	}
}

// koophoneWithProject is koophone with the project ID given, so that no
// lookup is made (a wrong secret would fail it).
func koophoneWithProject(t *testing.T, url, ak, sk, projectID string) *core.HcHttpClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(projectID).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.NewHcHttpClientBuilder().WithEndpoints([]string{url}).WithCredential(cred).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
