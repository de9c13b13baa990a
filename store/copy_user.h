/*
 * copy_user: the store's "copy-user" admin command (copy_user.c): copy
 * one user's mailboxes from this store to another one over IMAP, the
 * first step of moving the user (mailHost) between stores.
 */
#ifndef STORE_COPY_USER_H
#define STORE_COPY_USER_H

struct store_config;

/* store -c msg.conf copy-user [options] USER HOST:PORT; argv[0] is
 * "copy-user".  Returns the exit status (see store(8)). */
int copy_user_main(const struct store_config *cfg, int argc, char **argv);

#endif
