// Package interop checks that clients built on Huawei Cloud's Go SDK
// (github.com/huaweicloud/huaweicloud-sdk-go-v3) work against phonefleet:
// a token from the SDK's IAM client, and KooPhone calls through the SDK
// core signed with an access key. It is a module of its own so that the
// phonefleet module does not depend on the SDK; its tests build and run the
// phonefleet binary of the parent directory, with --aksk-unsigned-host:
// the SDK signs x-sdk-date and the headers it sets, not host.
package interop
