/*
 * api/handlers.h — the route handlers, one file per resource (internal to
 * api/). Only the route table (api/routes.c) calls them. Each has the
 * api_handler signature: the request, the response to fill, and the
 * values its path template named, already checked (m->uid is 1 to
 * 2^32-1; m->path is a non-empty folder path).
 */
#ifndef IMAPGW_API_HANDLERS_H
#define IMAPGW_API_HANDLERS_H

#include "api/api.h"

/* api/service.c: the gateway itself */
api_handler api_healthz, api_readyz, api_openapi, api_metrics;

/* api/docs.c: for people: what is here, the HTML reference */
api_handler api_root, api_docs, api_docs_asset;

/* api/account.c: capabilities, namespace, special use, quota */
api_handler api_account_get;

/* api/folders.c, api/folder_write.c */
api_handler api_folders_list, api_folder_get;
api_handler api_folder_create, api_folder_patch, api_folder_delete;
/* GET /folders/changes (folders.c); PATCH and DELETE of it act on the
 * top-level folder named "changes" (folder_write.c) */
#define API_FOLDER_NAMED_CHANGES "changes"
api_handler api_folder_changes, api_folder_named_changes_patch, api_folder_named_changes_delete;

/* api/messages.c: a page of summaries */
api_handler api_messages_list;

/* api/search.c: the /messages filters across folders */
api_handler api_search;

/* api/threads.c: conversations */
api_handler api_threads_list, api_thread_get;

/* api/content.c: one message, its source and attachments */
api_handler api_message_get, api_message_raw, api_message_attachments, api_message_attachment;

/* api/changes.c: what changed since a state; api/events.c: live changes */
api_handler api_changes, api_events;

/* api/flags.c */
api_handler api_flags_get, api_flags_put, api_flags_patch, api_flags_bulk;

/* api/message_write.c: move, copy, delete, append */
api_handler api_message_move, api_message_copy, api_messages_move, api_messages_copy;
api_handler api_message_delete, api_message_append;

/* api/senders.c: mail grouped by sender, bulk clean-up and unsubscribing */
api_handler api_senders_list, api_sender_read, api_sender_archive, api_sender_delete;
api_handler api_sender_unsubscribe;

#endif
