/*
 * api/docs.c — the routes for people: GET / (what is here) and GET /docs,
 * the contract rendered as an HTML reference by Redoc. Redoc's standalone
 * bundle (tools/package.json pins it) is compiled into the binary
 * ($(BUILD)/gen/redoc_js.c, by openapi/embed.py --asset) and served from
 * /docs/redoc.standalone.js, so the page needs no other network than
 * this gateway. It reads the contract from /openapi.json.
 */
#include "api/handlers.h"

extern const char api_redoc_js[];
extern const size_t api_redoc_js_len;

/* Relative URLs: the page works behind a proxy that adds a path prefix. */
static const char docs_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>imapgw API reference</title>\n"
	"<style>body{margin:0}</style>\n"
	"</head>\n"
	"<body>\n"
	"<redoc spec-url=\"openapi.json\" hide-download-button=\"false\"></redoc>\n"
	"<noscript>The reference needs JavaScript; the contract itself is at "
	"<a href=\"openapi.json\">openapi.json</a>.</noscript>\n"
	"<script src=\"docs/redoc.standalone.js\"></script>\n"
	"</body>\n"
	"</html>\n";

void api_root(const struct api_request *req, struct api_response *resp,
              const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	imap_buf_puts(&resp->body,
	              "{\"service\":\"imapgw\",\"links\":{\"docs\":\"/docs\","
	              "\"openapi\":\"/openapi.json\",\"health\":\"/healthz\",\"ready\":\"/readyz\","
	              "\"metrics\":\"/metrics\"}}");
	/* RFC 8631: where a program finds the description, a person the docs */
	api_response_header(resp, "Link",
	                    "</openapi.json>; rel=\"service-desc\", </docs>; rel=\"service-doc\"");
}

void api_docs(const struct api_request *req, struct api_response *resp,
              const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	resp->content_type = "text/html; charset=utf-8";
	imap_buf_append(&resp->body, docs_html, sizeof docs_html - 1);
}

void api_docs_asset(const struct api_request *req, struct api_response *resp,
                    const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	resp->content_type = "text/javascript; charset=utf-8";
	api_response_header(resp, "Cache-Control", "public, max-age=86400");
	imap_buf_append(&resp->body, api_redoc_js, api_redoc_js_len);
}
