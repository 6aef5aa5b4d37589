// Command delete unsubscribes instances through Huawei Cloud's Go SDK core,
// signed with a phonefleet access key: the program of the README.
//
//	PHONEFLEET_AK=... PHONEFLEET_SK=... go run ./example/delete INSTANCE_ID...
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/def"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
)

// deleteRequest is the body of POST /v1/instances/delete.
type deleteRequest struct {
	Body struct {
		InstanceIDList []string `json:"instanceIdList"`
	} `json:"body"`
}

// envelope is phonefleet's (and KooPhone's) answer.
type envelope struct {
	ErrorCode      string `json:"error_code"`
	ErrorMsg       string `json:"error_msg"`
	HttpStatusCode int    `json:"-"`
}

func main() {
	endpoint := "http://127.0.0.1:8080"
	cred, err := basic.NewCredentialsBuilder().
		WithAk(os.Getenv("PHONEFLEET_AK")).WithSk(os.Getenv("PHONEFLEET_SK")).
		WithIamEndpointOverride(endpoint). // the SDK asks it for the project ID
		SafeBuild()
	if err != nil {
		log.Fatal(err)
	}
	client, err := core.NewHcHttpClientBuilder().
		WithRegion(region.NewRegion("cn-north-4", endpoint)).
		WithCredential(cred).
		SafeBuild()
	if err != nil {
		log.Fatal(err)
	}

	reqDef := def.NewHttpRequestDefBuilder().
		WithMethod(http.MethodPost).
		WithPath("/v1/instances/delete").
		WithContentType("application/json").
		WithResponse(new(envelope)).
		WithRequestField(def.NewFieldDef().WithName("Body").WithLocationType(def.Body)).
		Build()

	var req deleteRequest
	req.Body.InstanceIDList = os.Args[1:]
	resp, err := client.Sync(&req, reqDef)
	var apiErr *sdkerr.ServiceResponseError
	if errors.As(err, &apiErr) {
		log.Fatalf("%d %s: %s", apiErr.StatusCode, apiErr.ErrorCode, apiErr.ErrorMessage)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.(*envelope).ErrorMsg) // OK
}
