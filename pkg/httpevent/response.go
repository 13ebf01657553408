package httpevent

// Response is the integrated response SCF turns into an HTTP answer.
type Response struct {
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
}

// JSON answers status with a JSON body.
func JSON(status int, body []byte) *Response {
	return &Response{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       string(body),
	}
}
