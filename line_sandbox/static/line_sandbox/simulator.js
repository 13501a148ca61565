/* LINE sandbox chat simulator. Vanilla JS; every control is a JSON call under control/.
 * Message content comes from the bot under test, so it is only ever put in the page as text
 * (textContent / attributes), never as HTML. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("sbx-config").textContent);
  const root = config.controlRoot;
  const $ = (id) => document.getElementById(id);
  const state = { userId: "", lastId: 0, menuKey: "", polling: null, busy: false };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function toast(message) {
    const box = $("sbx-toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
  }

  async function call(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(root + path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `エラー (${response.status})`);
    return data;
  }

  function reportWebhook(result) {
    if (result && result.webhookStatus !== undefined && result.webhookStatus !== 200) {
      toast(result.webhookStatus === 0
        ? "Webhook を送れませんでした（受信先に接続できません）"
        : `Webhook の応答: ${result.webhookStatus}`);
    }
  }

  // --- users -------------------------------------------------------------------------------
  async function loadUsers(selectId) {
    const data = await call("GET", "users");
    const select = $("sbx-user-select");
    select.replaceChildren(el("option", "", "— ユーザーを選択 —"));
    select.firstChild.value = "";
    for (const user of data.users) {
      const option = el("option", "", `${user.displayName}（${user.userId.slice(0, 9)}…）`);
      option.value = user.userId;
      select.appendChild(option);
    }
    if (selectId) select.value = selectId;
    selectUser(select.value);
  }

  function selectUser(userId) {
    state.userId = userId;
    state.lastId = 0;
    state.menuKey = "";
    $("sbx-chat").replaceChildren();
    $("sbx-richmenu").hidden = true;
    const url = new URL(window.location.href);
    if (userId) url.searchParams.set("user", userId); else url.searchParams.delete("user");
    window.history.replaceState(null, "", url);
    setControlsEnabled(Boolean(userId));
    if (userId) poll();
  }

  function setControlsEnabled(enabled) {
    for (const id of ["sbx-follow", "sbx-block", "sbx-text"]) $(id).disabled = !enabled;
    $("sbx-composer").querySelector("button").disabled = !enabled;
    if (!enabled) $("sbx-friend-status").textContent = "ユーザーを選んでください";
  }

  function showFriendStatus(user) {
    const badge = $("sbx-friend-status");
    const labels = { none: "友だちではありません", friend: "友だち", blocked: "ブロック中" };
    badge.textContent = labels[user.friendStatus] || user.friendStatus;
    badge.className = "sbx-badge" + (user.friendStatus === "friend" ? " sbx-friend" : "")
      + (user.friendStatus === "blocked" ? " sbx-blocked" : "");
    $("sbx-follow").textContent = user.friendStatus === "blocked" ? "ブロック解除" : "友だち追加";
    $("sbx-follow").disabled = user.friendStatus === "friend";
    $("sbx-block").disabled = user.friendStatus !== "friend";
    $("sbx-text").disabled = user.friendStatus === "blocked";
  }

  // --- polling -----------------------------------------------------------------------------
  async function poll() {
    if (!state.userId || state.busy) return;
    const userId = state.userId;
    state.busy = true;
    try {
      const data = await call("GET", `users/${encodeURIComponent(userId)}?after=${state.lastId}`);
      if (userId !== state.userId) return;
      showFriendStatus(data.user);
      for (const message of data.messages) {
        appendMessage(message);
        state.lastId = Math.max(state.lastId, message.id);
      }
      showRichMenu(data.richMenu, data.user);
      showEvents(data.events);
    } catch (error) {
      toast(error.message);
    } finally {
      state.busy = false;
    }
  }

  // --- actions -----------------------------------------------------------------------------
  async function perform(action) {
    if (!state.userId) return;
    try {
      const result = await call("POST", `users/${encodeURIComponent(state.userId)}/action`, { action });
      if (result.openUrl) window.open(result.openUrl, "_blank", "noopener");
      if (result.clipboard !== undefined) {
        await navigator.clipboard?.writeText(result.clipboard).catch(() => {});
        toast("クリップボードにコピーしました");
      }
      reportWebhook(result);
    } catch (error) {
      toast(error.message);
    }
    poll();
  }

  function actionButton(action, className, fallbackLabel) {
    const button = el("button", className, action.label || fallbackLabel || actionSummary(action));
    button.type = "button";
    button.title = actionSummary(action);
    button.addEventListener("click", (event) => { event.stopPropagation(); perform(action); });
    return button;
  }

  function actionSummary(action) {
    switch (action.type) {
      case "uri": return action.uri;
      case "message": return `メッセージ: ${action.text}`;
      case "postback": return `ポストバック: ${action.data}`;
      case "richmenuswitch": return `メニュー切替: ${action.richMenuAliasId}`;
      case "datetimepicker": return `日時選択: ${action.data}`;
      case "clipboard": return "コピー";
      default: return action.type;
    }
  }

  function clickable(node, action) {
    if (!action) return node;
    node.classList.add("sbx-clickable");
    node.title = actionSummary(action);
    node.addEventListener("click", (event) => { event.stopPropagation(); perform(action); });
    return node;
  }

  // --- message rendering -------------------------------------------------------------------
  function appendMessage(message) {
    const row = el("div", `sbx-row sbx-${message.direction}`);
    const payload = message.payload || {};
    if (message.direction === "system") {
      row.appendChild(el("div", "sbx-bubble", payload.text));
    } else if (message.direction === "user") {
      if (payload.type === "postback") {
        if (payload.displayText) row.appendChild(el("div", "sbx-bubble", payload.displayText));
        else row.appendChild(el("div", "sbx-meta", `（ポストバック送信: ${payload.data}）`));
      } else {
        row.appendChild(el("div", "sbx-bubble", payload.text));
      }
    } else {
      row.appendChild(renderBotMessage(payload));
      const meta = `${message.source}${message.delivered ? "" : "・未配信（友だちではない／ブロック中）"}`;
      row.appendChild(el("div", "sbx-meta", meta));
      if (!message.delivered) row.classList.add("sbx-undelivered");
    }
    const chat = $("sbx-chat");
    chat.appendChild(row);
    chat.scrollTop = chat.scrollHeight;
  }

  function renderBotMessage(message) {
    switch (message.type) {
      case "text":
      case "textV2":
        return textBubble(message.text || "");
      case "sticker":
        return el("div", "sbx-bubble", `［スタンプ ${message.packageId}/${message.stickerId}］`);
      case "image": {
        const card = el("div", "sbx-card");
        const img = el("img");
        img.src = message.previewImageUrl || message.originalContentUrl;
        img.alt = "画像";
        card.appendChild(img);
        return card;
      }
      case "video": return el("div", "sbx-bubble", "［動画］");
      case "audio": return el("div", "sbx-bubble", "［音声］");
      case "location":
        return el("div", "sbx-bubble", `［位置情報］${message.title}\n${message.address}`);
      case "imagemap": return el("div", "sbx-bubble", `［イメージマップ］${message.altText}`);
      case "template": return withAlt(renderTemplate(message.template || {}), message.altText);
      case "flex": return withAlt(renderFlexContainer(message.contents || {}), message.altText);
      default: return el("div", "sbx-bubble", `［${message.type}］`);
    }
  }

  function withAlt(node, altText) {
    const wrap = el("div");
    wrap.appendChild(node);
    if (altText) wrap.appendChild(el("div", "sbx-alt", `代替テキスト: ${altText}`));
    return wrap;
  }

  function textBubble(text) {
    // URLs become links that open the way a tap in LINE would (LIFF URLs map to local pages).
    const bubble = el("div", "sbx-bubble");
    const pattern = /https?:\/\/[^\s]+/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      bubble.appendChild(document.createTextNode(text.slice(last, match.index)));
      const link = el("a", "", match[0]);
      link.href = match[0];
      link.addEventListener("click", (event) => {
        event.preventDefault();
        perform({ type: "uri", uri: match[0] });
      });
      bubble.appendChild(link);
      last = match.index + match[0].length;
    }
    bubble.appendChild(document.createTextNode(text.slice(last)));
    return bubble;
  }

  function renderTemplate(template) {
    if (template.type === "carousel" || template.type === "image_carousel") {
      const strip = el("div", "sbx-carousel");
      for (const column of template.columns || []) {
        if (template.type === "image_carousel") {
          const card = el("div", "sbx-card");
          const img = el("img");
          img.src = column.imageUrl;
          img.alt = column.action?.label || "画像";
          card.appendChild(clickable(img, column.action));
          if (column.action?.label) card.appendChild(el("div", "sbx-card-body", column.action.label));
          strip.appendChild(card);
        } else {
          strip.appendChild(templateCard(column, column.actions || [], false));
        }
      }
      return strip;
    }
    return templateCard(template, template.actions || [], template.type === "confirm");
  }

  function templateCard(content, actions, confirm) {
    const card = el("div", "sbx-card");
    if (content.thumbnailImageUrl) {
      const img = el("img");
      img.src = content.thumbnailImageUrl;
      img.alt = content.title || "";
      card.appendChild(img);
    }
    const body = el("div", "sbx-card-body");
    if (content.title) body.appendChild(el("div", "sbx-card-title", content.title));
    body.appendChild(el("div", "sbx-flex-text", content.text || ""));
    card.appendChild(clickable(body, content.defaultAction));
    const list = el("div", "sbx-card-actions" + (confirm ? " sbx-confirm" : ""));
    for (const action of actions) list.appendChild(actionButton(action, "sbx-action"));
    card.appendChild(list);
    return card;
  }

  function renderFlexContainer(container) {
    if (container.type === "carousel") {
      const strip = el("div", "sbx-carousel");
      for (const bubble of container.contents || []) strip.appendChild(renderFlexBubble(bubble));
      return strip;
    }
    return renderFlexBubble(container);
  }

  function renderFlexBubble(bubble) {
    const card = el("div", "sbx-card");
    for (const block of ["header", "hero", "body", "footer"]) {
      if (!bubble[block]) continue;
      const part = renderFlexComponent(bubble[block]);
      if (block !== "hero") {
        const pad = el("div", "sbx-card-body");
        pad.appendChild(part);
        card.appendChild(pad);
      } else {
        card.appendChild(part);
      }
    }
    return clickable(card, bubble.action);
  }

  function renderFlexComponent(component) {
    switch (component.type) {
      case "box": {
        const box = el("div", `sbx-flex-box sbx-${component.layout || "vertical"}`);
        for (const child of component.contents || []) box.appendChild(renderFlexComponent(child));
        return clickable(box, component.action);
      }
      case "text": {
        const text = component.contents?.length
          ? component.contents.map((span) => span.text || "").join("")
          : component.text || "";
        const classes = ["sbx-flex-text"];
        if (component.weight === "bold") classes.push("sbx-flex-bold");
        if (["lg", "xl", "xxl", "3xl", "4xl", "5xl"].includes(component.size)) classes.push("sbx-flex-lg");
        if (["xxs", "xs", "sm"].includes(component.size)) classes.push("sbx-flex-sm");
        const node = el("div", classes.join(" "), text);
        if (component.color) node.style.color = component.color;
        return clickable(node, component.action);
      }
      case "button": {
        const style = component.style === "primary" ? " sbx-primary" : "";
        return actionButton(component.action || {}, `sbx-button sbx-flex-button${style}`);
      }
      case "image":
      case "icon": {
        const img = el("img");
        img.src = component.url;
        img.alt = "";
        return clickable(img, component.action);
      }
      case "separator": return el("hr", "sbx-flex-sep");
      case "filler": return el("div");
      case "video": return el("div", "sbx-flex-text", "［動画］");
      default: return el("div");
    }
  }

  // --- rich menu ---------------------------------------------------------------------------
  function showRichMenu(menu, user) {
    const hint = $("sbx-richmenu-hint");
    const key = menu ? JSON.stringify([menu.richMenuId, menu.areas]) : "";
    if (key === state.menuKey) return;
    state.menuKey = key;
    const section = $("sbx-richmenu");
    if (!menu) {
      section.hidden = true;
      hint.hidden = false;
      hint.textContent = user.friendStatus === "friend"
        ? "リッチメニューはありません（デフォルトも未設定）。"
        : "友だち追加するとリッチメニューが表示されます。";
      return;
    }
    hint.hidden = true;
    section.hidden = false;
    $("sbx-richmenu-bar-text").textContent = menu.chatBarText;
    $("sbx-richmenu-image").src = menu.imageUrl;
    const areas = $("sbx-richmenu-areas");
    areas.replaceChildren();
    (menu.areas || []).forEach((area, index) => {
      const b = area.bounds;
      const button = el("button", "sbx-area");
      button.type = "button";
      button.style.left = `${(b.x / menu.size.width) * 100}%`;
      button.style.top = `${(b.y / menu.size.height) * 100}%`;
      button.style.width = `${(b.width / menu.size.width) * 100}%`;
      button.style.height = `${(b.height / menu.size.height) * 100}%`;
      const label = area.action.label || actionSummary(area.action);
      button.setAttribute("aria-label", `エリア${index + 1}: ${label}`);
      button.title = label;
      button.addEventListener("click", () => perform(area.action));
      areas.appendChild(button);
    });
  }

  // --- developer tools ---------------------------------------------------------------------
  function showEvents(events) {
    const list = $("sbx-events");
    list.replaceChildren();
    for (const event of events || []) {
      const item = el("li");
      const ok = event.responseStatus === 200;
      const status = event.responseStatus === null ? "-" : event.responseStatus || "接続不可";
      item.appendChild(el("span", "", `${event.type}（${event.deliveryCount}回）`));
      item.appendChild(el("code", "", event.webhookEventId));
      item.appendChild(el("span", ok ? "sbx-status-ok" : "sbx-status-ng", status));
      const again = el("button", "sbx-button", "再送");
      again.type = "button";
      again.addEventListener("click", async () => {
        try {
          reportWebhook(await call("POST", `events/${event.webhookEventId}/redeliver`));
        } catch (error) {
          toast(error.message);
        }
        poll();
      });
      item.appendChild(again);
      list.appendChild(item);
    }
  }

  function showFaults(faults) {
    const list = $("sbx-faults");
    list.replaceChildren();
    for (const fault of faults) {
      const text = `${fault.status ?? "遅延のみ"} ・残り${fault.remaining ?? "∞"}回 ・${fault.pathPrefix || "全API"} ・+${fault.latencyMs}ms`;
      list.appendChild(el("li", "", text));
    }
    if (!faults.length) list.appendChild(el("li", "", "障害注入なし"));
  }

  // --- wiring ------------------------------------------------------------------------------
  $("sbx-webhook-url").textContent = config.webhookUrl;
  $("sbx-user-select").addEventListener("change", (event) => selectUser(event.target.value));
  $("sbx-user-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await call("POST", "users", { displayName: $("sbx-user-name").value });
      $("sbx-user-name").value = "";
      await loadUsers(data.user.userId);
    } catch (error) {
      toast(error.message);
    }
  });
  $("sbx-follow").addEventListener("click", async () => {
    try {
      reportWebhook(await call("POST", `users/${encodeURIComponent(state.userId)}/follow`));
    } catch (error) {
      toast(error.message);
    }
    poll();
  });
  $("sbx-block").addEventListener("click", async () => {
    try {
      reportWebhook(await call("POST", `users/${encodeURIComponent(state.userId)}/unfollow`));
    } catch (error) {
      toast(error.message);
    }
    poll();
  });
  $("sbx-composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("sbx-text");
    const text = input.value;
    if (!text.trim() || !state.userId) return;
    input.value = "";
    try {
      reportWebhook(await call("POST", `users/${encodeURIComponent(state.userId)}/text`, { text }));
    } catch (error) {
      toast(error.message);
      input.value = text;
    }
    poll();
  });
  $("sbx-richmenu-bar").addEventListener("click", () => {
    const body = $("sbx-richmenu-body");
    body.hidden = !body.hidden;
    $("sbx-richmenu-bar").setAttribute("aria-expanded", String(!body.hidden));
  });
  $("sbx-fault-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const data = await call("POST", "faults", {
        status: form.get("status"),
        count: form.get("count"),
        pathPrefix: form.get("pathPrefix"),
        latencyMs: form.get("latencyMs"),
      });
      showFaults(data.faults);
      toast("障害注入を設定しました");
    } catch (error) {
      toast(error.message);
    }
  });
  $("sbx-fault-clear").addEventListener("click", async () => {
    try {
      showFaults((await call("DELETE", "faults")).faults);
      toast("障害注入を解除しました");
    } catch (error) {
      toast(error.message);
    }
  });

  loadUsers(config.initialUserId).catch((error) => toast(error.message));
  call("GET", "faults").then((data) => showFaults(data.faults)).catch(() => {});
  state.polling = setInterval(poll, config.pollMs);
})();
