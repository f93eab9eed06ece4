-- lsyncd for the uploads sync (replica/bin/veche-uploads-sync sets the variables; ADR 0012).
-- The chat writes a file under tmp/ and renames it into place, so only finished files are pushed.
settings {
  -- In the foreground, lsyncd logs to standard output (docker service logs).
  nodaemon = true,
  statusFile = os.getenv("VECHE_SYNC_STATE") .. "/lsyncd.status",
  -- Retry a push the standby refused (it is down) instead of giving up.
  insist = true,
}

sync {
  default.rsync,
  source = os.getenv("VECHE_UPLOADS_DIR"),
  target = os.getenv("VECHE_SYNC_TARGET"),
  delay = tonumber(os.getenv("VECHE_SYNC_DELAY")),
  -- Attachments are never deleted by the chat: the standby only adds, so a failback cannot erase
  -- a file the old primary stored in its last moments.
  delete = false,
  exclude = { "/tmp/" },
  rsync = {
    archive = true,
    password_file = os.getenv("VECHE_SYNC_PASSWORD_COPY"),
  },
}
