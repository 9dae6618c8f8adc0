-- Drives starcoder-lsp from headless Neovim (0.7+): code action -> command -> the
-- server's workspace/applyEdit is applied by Neovim's own handler -> :write.
-- Results go to $RESULT as JSON; exit code 0 only when every step worked.
local result = { steps = {} }
local function done(ok, msg)
  result.ok = ok
  result.message = msg
  vim.fn.writefile({ vim.fn.json_encode(result) }, os.getenv("RESULT"))
  vim.cmd(ok and "qall!" or "cquit 1")
end

function Run()
  local ok, err = pcall(function()
    local bufnr = vim.api.nvim_get_current_buf()
    local cmd = vim.fn.json_decode(os.getenv("SERVER_CMD"))
    local id = vim.lsp.start_client({
      name = "starcoder-lsp",
      cmd = cmd,
      root_dir = vim.fn.getcwd(),
      init_options = { maxTokens = 40 },
    })
    vim.lsp.buf_attach_client(bufnr, id)
    local client = vim.lsp.get_client_by_id(id)
    if not vim.wait(30000, function() return client.initialized end, 50) then
      return done(false, "server did not initialize")
    end
    table.insert(result.steps, "initialized")
    local line = tonumber(os.getenv("LINE"))
    -- Optionally a diagnostic from another tool (a linter's namespace, as nvim-lint or
    -- another server would set it); the context then carries it, as
    -- vim.lsp.buf.code_action() builds it from the line's diagnostics.
    local diagnostic = os.getenv("DIAGNOSTIC")
    local context_diagnostics = {}
    if diagnostic then
      local d = vim.fn.json_decode(diagnostic)
      local ns = vim.api.nvim_create_namespace("test-linter")
      vim.diagnostic.set(ns, bufnr, { {
        lnum = line, col = d.col, end_lnum = line, end_col = d.end_col,
        message = d.message, source = d.source, severity = vim.diagnostic.severity.ERROR,
      } })
      context_diagnostics = vim.lsp.diagnostic.get_line_diagnostics(bufnr, line)
      result.diagnostics = #context_diagnostics
    end
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = { start = { line = line, character = 0 }, ["end"] = { line = line, character = 0 } },
      context = { diagnostics = context_diagnostics },
    }
    local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/codeAction", params, 10000)
    local actions = responses and responses[id] and responses[id].result or {}
    if #actions == 0 then return done(false, "no code actions") end
    local want = os.getenv("ACTION_PREFIX")
    local chosen = actions[1]
    if want then
      chosen = nil
      for _, action in ipairs(actions) do
        if action.title:sub(1, #want) == want then chosen = action break end
      end
      if not chosen then return done(false, "no action starting with " .. want) end
    end
    result.action = chosen.title
    result.kind = chosen.kind
    table.insert(result.steps, "code action")
    local command = chosen.command
    local reply = client.request_sync("workspace/executeCommand",
      { command = command.command, arguments = command.arguments }, 120000, bufnr)
    if not reply or reply.err then
      return done(false, "command failed: " .. vim.inspect(reply))
    end
    result.reply = reply.result
    table.insert(result.steps, "command")
    vim.cmd("write")
    table.insert(result.steps, "written")
    client.stop()
    done(reply.result.applied == true, "ok")
  end)
  if not ok then done(false, tostring(err)) end
end
