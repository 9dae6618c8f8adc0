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
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = { start = { line = line, character = 0 }, ["end"] = { line = line, character = 0 } },
      context = { diagnostics = {} },
    }
    local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/codeAction", params, 10000)
    local actions = responses and responses[id] and responses[id].result or {}
    if #actions == 0 then return done(false, "no code actions") end
    result.action = actions[1].title
    table.insert(result.steps, "code action")
    local command = actions[1].command
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
