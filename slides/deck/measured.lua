-- measured.lua: the deck's measured figures. Each
--   ::: {.measured demo=NAME figure=FIG}
--   :::
-- is filled with the figure that slides/demos/NAME.sh wrote when the deck was built
-- (HVLAB_FIGURES/NAME/FIG.md, Markdown), followed by the demo's command. A demo whose script
-- is not there yet (NAME missing from HVLAB_AVAILABLE) gets a "not measured yet" note
-- instead. Anything else (an unknown demo, a figure the demo did not write, an empty one)
-- stops the build: a slide never shows a made-up number.

local figures = os.getenv("HVLAB_FIGURES") or error("measured.lua: HVLAB_FIGURES is not set")
local registry_path = os.getenv("HVLAB_REGISTRY") or error("measured.lua: HVLAB_REGISTRY is not set")
local available = {}
for name in string.gmatch(os.getenv("HVLAB_AVAILABLE") or "", "%S+") do
  available[name] = true
end

local registry = {}
for line in io.lines(registry_path) do
  if not line:match("^#") and line:match("%S") then
    local name, lab, what = line:match("^([^\t]+)\t([^\t]+)\t(.+)$")
    if name then registry[name] = { lab = lab, what = what } end
  end
end

local function command(demo)
  return pandoc.Para({ pandoc.Str("Demo:"), pandoc.Space(), pandoc.Code("make demo-" .. demo) })
end

function Div(el)
  if not el.classes:includes("measured") then return nil end
  local demo, figure = el.attributes["demo"], el.attributes["figure"]
  if not demo or not figure then
    error("measured.lua: a .measured div needs demo= and figure=")
  end
  local entry = registry[demo]
  if not entry then
    error("measured.lua: demo '" .. demo .. "' is not in " .. registry_path)
  end
  if available[demo] then
    local path = figures .. "/" .. demo .. "/" .. figure .. ".md"
    local f = io.open(path, "r")
    if not f then
      error("measured.lua: demo-" .. demo .. " wrote no figure '" .. figure .. "' (" .. path .. ")")
    end
    local text = f:read("a")
    f:close()
    if not text:match("%S") then
      error("measured.lua: the figure " .. path .. " is empty")
    end
    local blocks = pandoc.read(text, "markdown").blocks
    -- A short listing is set larger, for the back of the room; a long one smaller, to fit.
    blocks = blocks:map(function(b)
      if b.t == "CodeBlock" then
        local lines = select(2, b.text:gsub("\n", ""))
        if lines < 10 then b.classes:insert("short") elseif lines >= 18 then b.classes:insert("long") end
      end
      return b
    end)
    blocks:insert(command(demo))
    el.content = blocks
    el.classes:insert("is-measured")
  else
    el.content = {
      pandoc.Para({
        pandoc.Strong({ pandoc.Str("Not measured yet:") }), pandoc.Space(),
        pandoc.Str(entry.lab .. " is not in the kit yet."), pandoc.Space(),
        pandoc.Str("This place will show " .. entry.what .. ","), pandoc.Space(),
        pandoc.Str("measured by"), pandoc.Space(), pandoc.Code("make demo-" .. demo),
        pandoc.Str("."),
      }),
    }
    el.classes:insert("not-measured")
  end
  return el
end
