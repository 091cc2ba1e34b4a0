// Sensors beyond images in the frame viewer: which kind a SingleFrame is (image, video or
// point cloud, from its content type or its source's extension), a <video> player, and point
// clouds drawn by pointcloud.js (an ES module, imported on first use only).
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  const VIDEO_EXT = /\.(mp4|m4v|webm|ogv|mov|mkv)$/i;
  const $ = (id) => document.getElementById(id);
  let pointCloudModule = null;

  function sensorKind(doc) {
    const type = (doc.content_type || "").toLowerCase();
    const path = String(doc.source || "").split(/[?#]/)[0];
    if (type.includes("pcd") || /\.pcd$/i.test(path)) return "pointcloud";
    if (type.startsWith("video/") || (!type.startsWith("image/") && VIDEO_EXT.test(path))) return "video";
    return "image";
  }

  // show `kind` ("video" or "pointcloud"; anything else hides both); stillShown() says whether
  // the page still wants this sensor when the point cloud is ready
  async function showSensor(kind, media, moduleUrl, stillShown) {
    const video = $("frame-video");
    const canvas = $("pointcloud");
    const info = $("pointcloud-info");
    video.hidden = kind !== "video";
    canvas.hidden = info.hidden = kind !== "pointcloud";
    if (kind !== "video") video.removeAttribute("src");
    if (kind === "video") {
      video.src = media.source;
      video.poster = media.preview !== media.source ? media.preview : "";
    } else if (kind === "pointcloud") {
      info.textContent = "Loading the point cloud…";
      pointCloudModule = pointCloudModule || import(moduleUrl);
      try {
        const result = await (await pointCloudModule).showPointCloud(canvas, media.source);
        if (!stillShown()) return;
        canvas.dataset.mode = result.mode;
        info.textContent = result.points + " points, " +
          (result.mode === "3d" ? "3D view: drag to orbit, wheel to zoom" : "top-down view (no WebGL here)");
      } catch (e) {
        info.textContent = "Cannot show this point cloud: " + e.message;
      }
    }
  }

  NS.sensorKind = sensorKind;
  NS.showSensor = showSensor;
})(window.Ingest);
